#!/bin/sh
# The real servers the test suite starts: Postfix, Dovecot, PostgreSQL, Knot DNS (Debian packages).
# Installs what is missing when run as root; otherwise says what to install.
set -eu
missing=""
command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ] || missing="$missing postfix"
[ -x /usr/sbin/smtp-sink ] || command -v smtp-sink >/dev/null 2>&1 || missing="$missing postfix"
[ -x /usr/sbin/dovecot ] || missing="$missing dovecot-core"
[ -x /usr/lib/dovecot/imap ] || missing="$missing dovecot-imapd"
[ -x /usr/lib/dovecot/pop3 ] || missing="$missing dovecot-pop3d"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
# Knot DNS: the authoritative server sending-domain verification is tested against.
[ -x /usr/sbin/knotd ] || missing="$missing knot"
# OpenDKIM's verifier: the second independent check of mailgate's DKIM signatures.
[ -x /usr/sbin/opendkim-testmsg ] || missing="$missing opendkim-tools"
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || missing="$missing iproute2"  # lo up in its namespace
# Chromium: the console's browser tests (Playwright drives Debian's build).
[ -x /usr/bin/chromium ] || missing="$missing chromium"
# A CJK font: the console's zh-CN screenshots show Chinese, not empty boxes.
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing="$missing fonts-wqy-microhei"
missing=$(echo "$missing" | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/^ *//; s/ *$//')
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "The test suite needs these Debian packages: $missing" >&2
    echo "Install them with: sudo apt-get install -y $missing" >&2
    exit 1
fi
echo "Installing Debian packages for the test servers: $missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
