package store

import "github.com/jmoiron/sqlx"

// RawDB lets tests tamper with rows behind the store's back.
func RawDB(s *Store) *sqlx.DB { return s.db }
