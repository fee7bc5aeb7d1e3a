"""Figure builders: pure functions from stored data to Plotly figure JSON (and table rows).

The dashboard draws these figures with plotly.js. A builder reads domain objects (series,
runs, flags) and never touches the database or HTTP.
"""
