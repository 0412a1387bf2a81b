#!/bin/sh
# Rendered by zenmail. Dovecot runs this when a mailbox crosses 80 % or 95 % of its quota:
# $1 = percent, $2 = user. The warning is delivered with quota enforcement off, so it
# reaches even a full mailbox.
PERCENT="$1"
USER="$2"
cat <<MSG | /usr/lib/dovecot/dovecot-lda -c {{ conf }} -d "$USER" -o "plugin/quota=count:User quota:noenforcing"
From: Mail system <postmaster@{{ hostname }}>
To: <$USER>
Subject: Your mailbox is $PERCENT% full
Auto-Submitted: auto-generated
Content-Type: text/plain; charset=utf-8
X-Zenmail-Quota-Warning: $PERCENT

Your mailbox $USER has reached $PERCENT % of its storage quota.

When it is full, new mail to you is refused and senders are told so.
Delete mail you no longer need (and empty the Trash), or ask your
administrator to give you more space.
MSG
