# Rendered by zenmail: runs before every user's own Sieve script (sieve_before). rspamd adds
# `X-Spam: Yes` from [filter] junk_score; such mail is filed into Junk, not the inbox.
require ["fileinto", "mailbox"];
if header :is "X-Spam" "Yes" {
  fileinto :create "Junk";
  stop;
}
