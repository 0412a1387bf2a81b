-- Rendered by zenmail from stack/templates/dovecot/credentials.lua: Dovecot's second passdb.
--
-- The first passdb (SQL, `noauthenticate`) fetched what the typed password may be, from the
-- directory's mail_credentials view: the account's live app passwords as `id:hash id:hash`
-- ({SSHA256}: microseconds each) and its main password ({ARGON2ID}; empty when the tenant
-- requires app passwords). This checks the password against them, the cheap ones first, so
-- a device on an app password never pays for Argon2id.
--
-- Because this passdb verifies instead of returning a hash, Dovecot's auth cache (when on)
-- remembers a success as a fast digest of the password: a repeated login skips Argon2id
-- too. zenmail flushes the cache for an account whenever its credentials change.
local OK = dovecot.auth.PASSDB_RESULT_OK
local MISMATCH = dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH

function auth_password_verify(req, password)
  local apps = req.passdb.zenmail_apps or ""
  local main = req.passdb.zenmail_main or ""
  -- The hashes stop here: emptied, they reach neither the login processes nor the cache.
  -- zenmail_credential says which one matched, for the login policy's "last used".
  local fields = { zenmail_apps = "", zenmail_main = "" }
  for id, hash in string.gmatch(apps, "(%d+):(%S+)") do
    if req:password_verify(hash, password) == 1 then
      fields.zenmail_credential = id
      return OK, fields
    end
  end
  if main ~= "" and req:password_verify(main, password) == 1 then
    fields.zenmail_credential = "main"
    return OK, fields
  end
  return MISMATCH, "no credential of this account matches"
end
