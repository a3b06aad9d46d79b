"""The audience: who gets the edition and who left. Readers (recipients.csv, recipients.py),
the address rules (addresses.py), signed links (signing.py), readers who leave from every source
(leavers.py) and the bounce reports of an SMTP sender (bounces.py)."""
