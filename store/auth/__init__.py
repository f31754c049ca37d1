"""Sign-in and access: who is asking, and what they may do.

- `passwords`: Argon2id hashing policy, password rules, the dummy hash for unknown accounts.
- `digests`: random tokens and their digests (sessions, API tokens, invites, challenges).
- `throttle`: failed-attempt counters per account and per client address.
- `sessions`: server-side browser sessions, their timeouts and their CSRF token.
- `api_tokens`: tokens for programs and bots, hashed at rest, role-scoped, revocable.
- `passkeys`: WebAuthn registration and sign-in (py_webauthn), challenges consumed once.
- `signin`: the flows a person goes through (password login, invite acceptance, enrollment).
- `principals`: the resolved caller and the tenant session that carries their role.

Nothing here knows about HTTP; `web` parses requests and calls these.
"""
