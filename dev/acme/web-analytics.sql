CREATE TABLE page_views (id INTEGER PRIMARY KEY, visitor_email TEXT, page TEXT, seconds_on_page INTEGER, bounced BOOLEAN);
CREATE INDEX page_views_visitor_email ON page_views (visitor_email);
INSERT INTO page_views VALUES (1, 'jane@example.com', '/pricing', 42, FALSE);
INSERT INTO page_views VALUES (2, 'jane@example.com', '/checkout', 95, FALSE);
INSERT INTO page_views VALUES (3, 'jane@example.com', '/blog/privacy', 8, TRUE);
INSERT INTO page_views VALUES (4, 'bob@example.com', '/pricing', 12, TRUE);
