"""security: what stops abuse of the listeners, beside the directory's own rules.

    lockout.py      login failures counted per account, per client address and per pair, with
                    temporary lockouts, an admin unlock and audit entries (state in Redis)
    authpolicy.py   the HTTP server Dovecot asks before and after every login (its auth
                    policy protocol), applying lockout.py; a process of the stack

Layers: imports the directory and the ground floor, never zenmail.stack or zenmail.web (the
stack starts authpolicy by its import path, the API calls lockout's service functions).
"""
