#pragma once
// The store's schema as ordered migrations: migration N brings a file from version N-1 to N
// (version 1 = initial schema). migrate() applies the missing ones inside one write
// transaction, so processes opening a fresh file at once cannot apply a step twice, and
// refuses a file whose version is newer than this build knows.
#include "store/sqlite.h"

namespace dmgn::store {

// Applies pending migrations up to `target`; returns the file's version afterwards.
int migrate(const sqlite::Db& db, int target);

// The highest version recorded in the file (0 for a fresh file).
int read_schema_version(const sqlite::Db& db);

}  // namespace dmgn::store
