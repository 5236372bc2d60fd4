-- The table examples/hr-to-sql-and-csv.yaml writes: psql -h <host> -U <user> -d <database> -f examples/sql/accounts.sql
CREATE TABLE IF NOT EXISTS accounts (
  employee_id  text PRIMARY KEY,
  display_name text NOT NULL,
  email        text,
  department   text,
  title        text,
  status       text NOT NULL DEFAULT 'active'
);
