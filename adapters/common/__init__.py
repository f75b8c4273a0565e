"""The family toolkit: what every API family needs at its edge, written once.

A family configures these pieces (its key headers, its rate-limit header names, its error
envelope) and keeps only what is truly its own: routes, wire translation and plan rules.

* ``family``      the registry entry a family package exports (``FAMILY``)
* ``credentials`` where a request's key and client IP come from
* ``callers``     a verified key with its account's plan and limits
* ``limits``      the per-minute decision and its headers, per family names
* ``statuses``    the one table from core errors to HTTP statuses
* ``jobs``        family-scoped job lookup (another account's job is simply absent)
* ``links``       signed, expiring file links
* ``pages``       opaque cursor pages
* ``streams``     admission of event streams (per IP, per account, per process)
* ``decoding``    decoder messages in words rather than regexes
"""
