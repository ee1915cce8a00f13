CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, alt_email TEXT, phone TEXT, customer_no TEXT, loyalty_no TEXT, name TEXT);
CREATE TABLE addresses (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), street TEXT, city TEXT);
INSERT INTO customers VALUES (1, 'jane@example.com', 'jane.doe@work.example', '+442079460958', 'C-1001', 'L10000001', 'Jane Doe');
INSERT INTO customers VALUES (2, 'bob@example.com', NULL, '+442079460000', 'C-1002', 'L10000002', 'Bob Stone');
INSERT INTO addresses VALUES (1, 1, '1 High Street', 'London');
INSERT INTO addresses VALUES (2, 1, '5 Harbour Road', 'Brighton');
INSERT INTO addresses VALUES (3, 2, '9 Mill Lane', 'Leeds');
