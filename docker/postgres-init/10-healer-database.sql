-- The healer's store, beside Airflow's metadata database, on the same PostgreSQL server.
-- PostgreSQL's image runs this once, when its data volume is empty; on an existing volume run
--   docker compose exec postgres createdb -U airflow healer
-- The healer creates its tables on first use.
CREATE DATABASE healer;
