-- The example company's shop database, as PostgreSQL runs it on its first
-- start (docker-entrypoint-initdb.d): customers, their orders, and the
-- flags and consents the rights change. Jane and Bob are the demo's
-- subjects; every row that is not Jane's must survive her requests.
CREATE TABLE customers (
  id          SERIAL PRIMARY KEY,
  customer_no TEXT NOT NULL UNIQUE,
  email       TEXT NOT NULL,
  name        TEXT NOT NULL,
  phone       TEXT,
  marketing_consent BOOLEAN NOT NULL DEFAULT FALSE,
  restricted  BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX customers_email ON customers (email);

CREATE TABLE orders (
  id               SERIAL PRIMARY KEY,
  customer_no      TEXT NOT NULL,
  shipping_name    TEXT,
  shipping_address TEXT,
  total_cents      INTEGER NOT NULL
);
CREATE INDEX orders_customer ON orders (customer_no);

CREATE TABLE order_notes (
  id       SERIAL PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders (id),
  note     TEXT NOT NULL
);
CREATE INDEX order_notes_order ON order_notes (order_id);

INSERT INTO customers (customer_no, email, name, phone, marketing_consent) VALUES
  ('C-1001', 'jane@example.com', 'Jane Doe', '+44 20 7946 0001', TRUE),
  ('C-1002', 'bob@example.com', 'Bob Stone', '+44 20 7946 0002', TRUE);

INSERT INTO orders (customer_no, shipping_name, shipping_address, total_cents) VALUES
  ('C-1001', 'Jane Doe', '1 High Street, London', 4200),
  ('C-1001', 'Jane Doe', '1 High Street, London', 1999),
  ('C-1002', 'Bob Stone', '9 Mill Lane, Leeds', 3500);

INSERT INTO order_notes (order_id, note) VALUES
  (1, 'leave with the neighbour'),
  (3, 'ring twice');
