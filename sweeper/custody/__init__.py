"""Custody: what any key of ours may sign, and the signers that enforce it.

- ``policy.py``: ``SigningPolicy`` judges an unsigned transaction and its intent from the raw data alone.
- ``guarded.py``: ``PolicyKeyring`` / ``PolicySigner``: local keys behind that policy (the signer service
  and the embedded demo).
- ``auth.py``: HMAC request authentication between workers and the signer service (timestamp + nonce).
"""
