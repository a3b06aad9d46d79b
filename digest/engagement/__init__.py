"""What readers clicked, per story and per edition, with nothing recorded about any reader:
the click links (`links`), the report (`report`) and the click rates that ranking may listen
to (`rates`)."""
