#!/usr/bin/env bash
# Write the SQL that brings prisma/migrations up to prisma/schema.prisma into a new migration.
#   npm run db:migration -- add_something
# Statements listed in prisma/allowed-drift.sql (differences the migrations keep on purpose,
# e.g. a relation without its foreign key) are left out.
set -euo pipefail
name=${1:?usage: npm run db:migration -- <name>}
tmp=$(mktemp)
kept=$(mktemp)
trap 'rm -f "$tmp" "$kept"' EXIT
# Diff into a temp file first: an empty new folder inside prisma/migrations makes the diff fail (P3015).
npx prisma migrate diff --from-migrations prisma/migrations --to-schema prisma/schema.prisma --script -o "$tmp"
grep -v -x -F -f prisma/allowed-drift.sql "$tmp" > "$kept" || true
# Drop the "-- AddForeignKey" style header left without its statement.
awk '{ lines[NR] = $0 } END { for (i = 1; i <= NR; i++) if (!(lines[i] ~ /^-- / && (i == NR || lines[i + 1] == ""))) print lines[i] }' "$kept" > "$tmp"
if [ ! -s "$tmp" ] || ! grep -qv -e '^--' -e '^$' "$tmp"; then echo "schema and migrations already agree"; exit 0; fi
dir="prisma/migrations/$(date -u +%Y%m%d%H%M%S)_${name}"
mkdir -p "$dir"
cp "$tmp" "$dir/migration.sql"
echo "wrote $dir/migration.sql"
