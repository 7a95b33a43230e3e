"""``make demo``: the example DAGs in Airflow against the offline platform (``python -m demo``; see __main__)."""
