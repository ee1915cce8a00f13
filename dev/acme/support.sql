CREATE TABLE tickets (id INTEGER PRIMARY KEY, email TEXT, subject TEXT, body TEXT);
CREATE INDEX tickets_email ON tickets (email);
INSERT INTO tickets VALUES (1, 'jane@example.com', 'Late delivery', 'My order to 5 Harbour Road has not arrived.');
INSERT INTO tickets VALUES (2, 'bob@example.com', 'Invoice copy', 'Please send me a copy of my invoice.');
