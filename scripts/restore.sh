#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh: check its manifest, restore the
# database with pg_restore in one transaction, then unpack the uploaded files.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/restore.sh [--force] [--database-url URL] [--media-root DIR] BACKUP

Restores the backup directory BACKUP (from scripts/backup.sh):
  1. checks manifest.txt: its format and the sha256 of database.dump and
     media.tar.gz (any mismatch: nothing is touched);
  2. refuses a database that already holds tables, or a media directory that
     already holds files, unless --force;
  3. pg_restore --no-owner --no-acl --exit-on-error --single-transaction (all or
     nothing); with --force, objects of the backup that exist are dropped first;
  4. unpacks the files into the media directory (with --force, over what is there:
     files of the backup replace theirs, others stay; `manage.py cleanup_files`
     removes those no row refers to).

  --database-url URL  PostgreSQL database to restore into (default: $DATABASE_URL);
                      create it first (createdb), ideally empty
  --media-root DIR    where uploads go (default: $MEDIA_ROOT, else ${VAR_DIR:-var}/media)
  --force             restore into a database or media directory that is not empty

Stop the servers (and the scheduler) first. Run `manage.py migrate` afterwards if
the code is newer than the backup.
EOF
}

die() {
    echo "restore: $*" >&2
    exit 1
}

repo="$(cd "$(dirname "$0")/.." && pwd)"
database_url="${DATABASE_URL:-}"
media_root="${MEDIA_ROOT:-${VAR_DIR:-$repo/var}/media}"
force=false
backup=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --database-url) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; database_url="$2"; shift 2 ;;
        --database-url=*) database_url="${1#*=}"; shift ;;
        --media-root) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; media_root="$2"; shift 2 ;;
        --media-root=*) media_root="${1#*=}"; shift ;;
        --force) force=true; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "restore: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) [[ -z "$backup" ]] || { usage >&2; exit 2; }; backup="$1"; shift ;;
    esac
done
[[ -n "$backup" ]] || { usage >&2; exit 2; }

case "$database_url" in
    postgres://* | postgresql://*) ;;
    pgsql://* | postgis://*) database_url="postgresql://${database_url#*://}" ;;
    "") die "no database: set DATABASE_URL or pass --database-url" ;;
    *) die "not a PostgreSQL URL" ;;
esac
for tool in pg_restore psql sha256sum tar; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

# 1. The manifest: the format we write, and both parts with the sha256 it records.
manifest="$backup/manifest.txt"
[[ -f "$manifest" ]] || die "$manifest is missing: not a backup made by backup.sh"
[[ "$(head -n 1 -- "$manifest")" == "format: taskmanager-backup 1" ]] ||
    die "$manifest: unknown format"
for part in database.dump media.tar.gz; do
    expected="$(awk -v part="$part" '$1 == "sha256:" && $3 == part { print $2 }' "$manifest")"
    [[ "$expected" =~ ^[0-9a-f]{64}$ ]] || die "manifest mismatch: no sha256 for $part"
    [[ -f "$backup/$part" ]] || die "manifest mismatch: $part is missing"
    actual="$(sha256sum -- "$backup/$part" | cut -d' ' -f1)"
    [[ "$actual" == "$expected" ]] ||
        die "manifest mismatch: $part has sha256 $actual, the manifest says $expected"
done

# 2. The targets must be empty, unless --force.
tables="$(psql --no-password --no-psqlrc --quiet --tuples-only --no-align \
    --dbname="$database_url" --command="
    SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%'")"
media_files=0
if [[ -d "$media_root" ]]; then
    media_files="$(find "$media_root" -mindepth 1 -not -type d | wc -l)"
fi
if ! $force; then
    [[ "$tables" -eq 0 ]] ||
        die "the database holds $tables tables or sequences; restore into an empty one, or --force"
    [[ "$media_files" -eq 0 ]] ||
        die "$media_root holds $media_files files; restore into an empty directory, or --force"
fi

# 3. The database, all or nothing.
clean=()
if [[ "$tables" -ne 0 ]]; then
    clean=(--clean --if-exists)
fi
pg_restore --no-password --no-owner --no-acl --exit-on-error --single-transaction \
    "${clean[@]}" --dbname="$database_url" "$backup/database.dump"

# 4. The files.
mkdir -p -- "$media_root"
tar -C "$media_root" --no-same-owner -xzf "$backup/media.tar.gz"

echo "restore: $backup restored ($(grep '^created_at: ' "$manifest" | cut -d' ' -f2))" >&2
