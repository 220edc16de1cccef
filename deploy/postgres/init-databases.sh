#!/bin/sh
# Runs once, when the postgres service starts on an empty data volume
# (/docker-entrypoint-initdb.d): one database per client, each owned by its own login
# role, so neither Millrace nor MLflow holds the superuser's password.
# The names can be overridden (PG_MILLRACE_DB, PG_MLFLOW_DB); compose.yaml uses the defaults.
set -eu

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v millrace_db="${PG_MILLRACE_DB:-millrace}" -v millrace_pw="$PG_MILLRACE_PASSWORD" \
    -v mlflow_db="${PG_MLFLOW_DB:-mlflow}" -v mlflow_pw="$PG_MLFLOW_PASSWORD" <<'SQL'
CREATE ROLE :"millrace_db" LOGIN PASSWORD :'millrace_pw';
CREATE DATABASE :"millrace_db" OWNER :"millrace_db";
CREATE ROLE :"mlflow_db" LOGIN PASSWORD :'mlflow_pw';
CREATE DATABASE :"mlflow_db" OWNER :"mlflow_db";
SQL
