#!/usr/bin/env bash
# Write the SQL that brings prisma/migrations up to prisma/schema.prisma into a new migration.
#   npm run db:migration -- add_something
set -euo pipefail
name=${1:?usage: npm run db:migration -- <name>}
dir="prisma/migrations/$(date -u +%Y%m%d%H%M%S)_${name}"
mkdir -p "$dir"
npx prisma migrate diff --from-migrations prisma/migrations --to-schema prisma/schema.prisma --script -o "$dir/migration.sql"
if [ ! -s "$dir/migration.sql" ] || ! grep -qv '^--' "$dir/migration.sql"; then rm -rf "$dir"; echo "schema and migrations already agree"; exit 0; fi
echo "wrote $dir/migration.sql"
