"""Debian's Chromium, headless, for the browser tests and bench/page_load.py."""

CHROMIUM = "/usr/bin/chromium"
# Without the networking flags it stalls on connection attempts where the network is closed.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
