#!/bin/sh
# Writes the dev overlay's two Secret files with fresh random values, once (an existing file is kept, so the
# database password stays the one PostgreSQL was initialised with). They are git-ignored: no credential of any
# installation is ever committed. Run before `kubectl apply -k manifests/overlays/dev`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
umask 077
random() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }
if [ ! -f "$here/db.env" ]; then
  password=$(random)
  printf 'password=%s\nbackend-store-uri=postgresql+psycopg2://mlflow:%s@recforge-postgres:5432/mlflow\n' \
    "$password" "$password" > "$here/db.env"
  echo "wrote $here/db.env"
fi
if [ ! -f "$here/s3.env" ]; then
  printf 'bucket=recforge-dev\nendpoint=%s\naccess-key=recforge-dev\nsecret-key=%s\n' \
    "${RECFORGE_DEV_S3_ENDPOINT:-http://minio.minio.svc.cluster.local:9000}" "$(random)" > "$here/s3.env"
  echo "wrote $here/s3.env"
fi
