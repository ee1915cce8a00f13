CREATE TABLE subscriptions (id INTEGER PRIMARY KEY, email TEXT, list TEXT, newsletter_consent BOOLEAN NOT NULL DEFAULT FALSE);
CREATE TABLE campaign_clicks (id INTEGER PRIMARY KEY, email TEXT, campaign TEXT, clicked_at TEXT);
CREATE INDEX subscriptions_email ON subscriptions (email);
CREATE INDEX campaign_clicks_email ON campaign_clicks (email);
INSERT INTO subscriptions VALUES (1, 'jane@example.com', 'weekly', FALSE);
INSERT INTO subscriptions VALUES (2, 'bob@example.com', 'weekly', TRUE);
INSERT INTO campaign_clicks VALUES (1, 'jane@example.com', 'spring-sale', '2026-03-02T10:00:00Z');
INSERT INTO campaign_clicks VALUES (2, 'jane@example.com', 'summer-sale', '2026-06-20T18:30:00Z');
INSERT INTO campaign_clicks VALUES (3, 'bob@example.com', 'spring-sale', '2026-03-03T09:00:00Z');
