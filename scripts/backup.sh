#!/usr/bin/env bash
# Back up Taskmanager: the PostgreSQL database (pg_dump, custom format) and the
# uploaded files under MEDIA_ROOT (a tar), with a manifest of the time and the
# sha256 of each part. scripts/restore.sh puts a backup back.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/backup.sh [--database-url URL] [--media-root DIR] DEST

Writes a backup into the new directory DEST:
  database.dump    pg_dump --format=custom of the database
  media.tar.gz     the contents of the media directory
  manifest.txt     when it was made, and the sha256 of both parts

  --database-url URL  PostgreSQL database to back up (default: $DATABASE_URL)
  --media-root DIR    uploaded files (default: $MEDIA_ROOT, else ${VAR_DIR:-var}/media)

The database is dumped first, then the files: an upload stores its bytes before
its row, so every file row in the dump has its bytes in the tar (unless the file is
deleted in between; `manage.py cleanup_files` reports such rows). Uploads kept in
an S3 bucket (AWS_STORAGE_BUCKET_NAME) are not in MEDIA_ROOT: back the bucket up
with the store's own tools.
EOF
}

die() {
    echo "backup: $*" >&2
    exit 1
}

repo="$(cd "$(dirname "$0")/.." && pwd)"
database_url="${DATABASE_URL:-}"
media_root="${MEDIA_ROOT:-${VAR_DIR:-$repo/var}/media}"
dest=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --database-url) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; database_url="$2"; shift 2 ;;
        --database-url=*) database_url="${1#*=}"; shift ;;
        --media-root) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; media_root="$2"; shift 2 ;;
        --media-root=*) media_root="${1#*=}"; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "backup: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) [[ -z "$dest" ]] || { usage >&2; exit 2; }; dest="$1"; shift ;;
    esac
done
[[ -n "$dest" ]] || { usage >&2; exit 2; }

# libpq knows postgres:// and postgresql://; django-environ also accepts these.
case "$database_url" in
    postgres://* | postgresql://*) ;;
    pgsql://* | postgis://*) database_url="postgresql://${database_url#*://}" ;;
    "") die "no database: set DATABASE_URL or pass --database-url" ;;
    *) die "not a PostgreSQL URL (SQLite: stop the server and copy the file)" ;;
esac
if [[ -e "$dest" ]]; then
    die "$dest already exists; give a new directory"
fi
command -v pg_dump >/dev/null || die "pg_dump not found (Debian: apt-get install postgresql-client)"

# Written under a temporary name and renamed at the end: a backup that stopped half
# way never looks complete.
partial="$dest.partial.$$"
trap 'rm -rf -- "$partial"' EXIT
mkdir -p -- "$partial"

created_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
pg_dump --format=custom --no-password --file="$partial/database.dump" --dbname="$database_url"

if [[ -d "$media_root" ]]; then
    # Exit status 1 is "a file changed while it was read" (an upload in flight).
    tar_status=0
    tar -C "$media_root" -czf "$partial/media.tar.gz" . || tar_status=$?
    if [[ $tar_status -eq 1 ]]; then
        echo "backup: warning: files changed while they were archived" >&2
    elif [[ $tar_status -ne 0 ]]; then
        die "tar of $media_root failed"
    fi
else
    echo "backup: warning: no media directory at $media_root; archiving none" >&2
    tar -czf "$partial/media.tar.gz" --files-from /dev/null
fi

{
    echo "format: taskmanager-backup 1"
    echo "created_at: $created_at"
    echo "pg_dump: $(pg_dump --version)"
    for part in database.dump media.tar.gz; do
        echo "sha256: $(cd "$partial" && sha256sum -- "$part" | cut -d' ' -f1) $part"
    done
} >"$partial/manifest.txt"

mv -- "$partial" "$dest"
trap - EXIT
echo "$dest"
