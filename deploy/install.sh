#!/usr/bin/env bash
# Installs clawhost on a Debian or Ubuntu server as a hardened system service that serves
# https itself, with a certificate from Let's Encrypt for a DNS name or the server's IP.
#
#   sudo deploy/install.sh --domain claw.example.com
#   sudo deploy/install.sh --ip 203.0.113.5
#   sudo deploy/install.sh --uninstall [--purge]
#
# Run it again at any time: the result is the same (a new binary or name is picked up, the
# service restarted only when something changed). --root DIR installs into a staging tree
# instead, touching neither systemd nor the users (they are written to a manifest there).
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: install.sh (--domain NAME | --ip ADDR) [--email ADDR] [--binary PATH] [--root DIR]
       install.sh --uninstall [--purge] [--root DIR]

  --domain NAME   the DNS name of this server (its A/AAAA record points here)
  --ip ADDR       or this server's public IP address (a short-lived IP certificate)
  --email ADDR    a contact address for Let's Encrypt (optional)
  --binary PATH   the clawhost binary (default: target/release/clawhost of this checkout)
  --root DIR      install into DIR, without systemd or users (for tests and packaging)
  --uninstall     stop and remove the service and the binary; the data and settings stay
  --purge         with --uninstall: remove the data, the settings and the user too
EOF
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
domain=""
ip=""
email=""
binary="$here/../target/release/clawhost"
root=""
uninstall=false
purge=false
while [ "$#" -gt 0 ]; do
    case "$1" in
        --domain) domain="${2:?--domain needs a name}"; shift 2 ;;
        --ip) ip="${2:?--ip needs an address}"; shift 2 ;;
        --email) email="${2:?--email needs an address}"; shift 2 ;;
        --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
        --root) root="${2:?--root needs a directory}"; shift 2 ;;
        --uninstall) uninstall=true; shift ;;
        --purge) purge=true; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
if [ -n "$root" ]; then
    mkdir -p "$root"
    root="$(cd "$root" && pwd)"
fi

bin_path="$root/usr/local/bin/clawhost"
config_dir="$root/etc/clawhost"
config_file="$config_dir/clawhost.toml"
unit_file="$root/etc/systemd/system/clawhost.service"
data_dir="$root/var/lib/clawhost"
manifest="$root/clawhost-install.manifest"

staged() { [ -n "$root" ]; }

# Under --root, what would be done to users and owners is written down instead.
record() {
    if staged; then
        if [ ! -f "$manifest" ] || ! grep -qxF -- "$*" "$manifest"; then
            echo "$*" >>"$manifest"
        fi
    fi
}

need_root() {
    if ! staged && [ "$(id -u)" != 0 ]; then
        echo "install.sh: run it as root (sudo deploy/install.sh …), or with --root DIR to stage" >&2
        exit 1
    fi
}

if "$uninstall"; then
    need_root
    if ! staged && [ -f "$unit_file" ]; then
        systemctl disable --now clawhost.service
    fi
    rm -f "$unit_file" "$bin_path"
    staged || systemctl daemon-reload
    if "$purge"; then
        rm -rf "$config_dir" "$data_dir"
        if staged; then
            rm -f "$manifest"
        elif getent passwd clawhost >/dev/null; then
            userdel clawhost
        fi
        echo "clawhost, its data and its settings are removed."
    else
        echo "clawhost is removed. Its data ($data_dir) and settings ($config_dir) are kept;"
        echo "run again with --uninstall --purge to remove them too."
    fi
    exit 0
fi

if [ -z "$domain" ] && [ -z "$ip" ]; then
    # The first global address is usually the public one on a VPS (not behind NAT at home).
    proposed=""
    if command -v ip >/dev/null; then
        proposed="$(ip -o -4 addr show scope global | awk '{ split($4, a, "/"); print a[1]; exit }')"
        if [ -z "$proposed" ]; then
            proposed="$(ip -o -6 addr show scope global | awk '{ split($4, a, "/"); print a[1]; exit }')"
        fi
    fi
    echo "install.sh: say which name clawhost's certificate is for:" >&2
    echo "  --domain claw.example.com   a DNS name whose A/AAAA record points at this server" >&2
    if [ -n "$proposed" ]; then
        echo "  --ip $proposed        this server's address (the one it has on the internet)" >&2
    else
        echo "  --ip ADDR                   this server's public address" >&2
    fi
    exit 2
fi
if [ -n "$domain" ] && [ -n "$ip" ]; then
    echo "install.sh: give --domain or --ip, not both" >&2
    exit 2
fi
name="${domain:-$ip}"
need_root
if [ ! -x "$binary" ]; then
    echo "install.sh: no clawhost binary at $binary: build it with 'cargo build --release', or pass --binary PATH" >&2
    exit 1
fi

changed=false
# Installs $1 at $2 with mode $3, owner $4, noting whether anything changed.
put() {
    local source="$1" target="$2" mode="$3" owner="$4"
    if ! cmp -s "$source" "$target" || [ "$(stat -c %a "$target")" != "${mode#0}" ]; then
        mkdir -p "$(dirname "$target")"
        install -m "$mode" "$source" "$target"
        changed=true
    fi
    record "file ${target#"$root"} $mode $owner"
}

# The service user: no login, no home of its own but the state directory.
if staged; then
    record "user clawhost system home=/var/lib/clawhost shell=/usr/sbin/nologin"
elif ! getent passwd clawhost >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/clawhost --no-create-home \
        --shell /usr/sbin/nologin clawhost
fi

put "$binary" "$bin_path" 0755 root:root
put "$here/clawhost.service" "$unit_file" 0644 root:root

# The settings: kept as they are when someone changed them since; the name given now goes
# into a new file beside them, and the old one is named in the output.
settings="$(mktemp)"
trap 'rm -f "$settings"' EXIT
{
    echo "# Written by deploy/install.sh. Every setting: clawhost serve --help."
    echo 'listen = "[::]:443"'
    echo
    echo "[tls]"
    echo 'mode = "acme"'
    echo
    echo "[tls.acme]"
    echo "names = [\"$name\"]"
    if [ -n "$email" ]; then
        echo "email = \"$email\""
    fi
} >"$settings"
"$binary" serve --check-config --config "$settings" --data-dir "$data_dir"
mkdir -p "$config_dir"
chmod 0750 "$config_dir"
record "dir /etc/clawhost 0750 root:clawhost"
staged || chgrp clawhost "$config_dir"
if [ -f "$config_file" ] && ! cmp -s "$settings" "$config_file"; then
    backup="$config_file.$(date +%Y%m%d%H%M%S)"
    cp -p "$config_file" "$backup"
    echo "The earlier settings are kept in $backup."
fi
put "$settings" "$config_file" 0640 root:clawhost
staged || chgrp clawhost "$config_file"

if staged; then
    echo "Staged in $root (users and owners in $manifest)."
    exit 0
fi

systemctl daemon-reload
systemctl enable clawhost.service
if "$changed" || ! systemctl is-active --quiet clawhost.service; then
    # Type=notify: this returns once clawhost listens.
    systemctl restart clawhost.service
fi

command -v curl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y curl
host="$name"
case "$name" in *:*) host="[$name]" ;; esac
# Type=notify: once `systemctl restart` returns, clawhost listens. The certificate may still
# be on its way (a self-signed stand-in is served until then), so only the answer is checked.
echo "clawhost answers: $(curl --silent --show-error --fail --insecure --max-time 10 \
    --retry 5 --retry-connrefused --connect-to "::127.0.0.1:443" "https://$host/healthz")"
echo
echo "clawhost is running. Open ports 443 and 80 (TCP) to this server if a firewall is in"
echo "front; the certificate from Let's Encrypt arrives within a minute once they are open."
echo
if code="$(runuser -u clawhost -- /usr/local/bin/clawhost claim-code \
    --config /etc/clawhost/clawhost.toml --data-dir /var/lib/clawhost)"; then
    echo "$code"
    echo
    echo "Claim it at https://$host/claim"
else
    echo "Sign in at https://$host/"
fi
