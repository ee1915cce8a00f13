CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_no TEXT, shipping_name TEXT, shipping_address TEXT, total_cents INTEGER NOT NULL);
CREATE TABLE invoices (id INTEGER PRIMARY KEY, customer_no TEXT, billing_name TEXT, amount_cents INTEGER NOT NULL);
INSERT INTO orders VALUES (1, 'C-1001', 'Jane Doe', '1 High Street, London', 4999);
INSERT INTO orders VALUES (2, 'C-1001', 'Jane Doe', '5 Harbour Road, Brighton', 1250);
INSERT INTO orders VALUES (3, 'C-1002', 'Bob Stone', '9 Mill Lane, Leeds', 800);
INSERT INTO invoices VALUES (1, 'C-1001', 'Jane Doe', 4999);
INSERT INTO invoices VALUES (2, 'C-1001', 'Jane Doe', 1250);
INSERT INTO invoices VALUES (3, 'C-1002', 'Bob Stone', 800);
