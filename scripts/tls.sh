# shellcheck shell=bash
# Certificates from the local CA, one way for every script that issues them
# (scripts/infra, scripts/machines and its ha.sh, scripts/up). Source it; it
# defines tls_sign.
#
# Every certificate is valid from TLS_BACKDATE_SECONDS (a day) before it is
# issued, as public CAs backdate theirs: a machine whose clock is behind
# refuses a certificate "not valid yet" otherwise, and on a fresh network the
# CA and the servers' certificates are minutes old (tests/e2e/clock_test.ts
# runs hosts 3 minutes behind; on a new machine its hosts could not connect).
# OpenSSL 3.0 (Debian 12) sets a certificate's start only in `openssl ca`.

TLS_BACKDATE_SECONDS=86400

# tls_sign CSR CA_PEM CA_KEY DAYS EXTENSIONS OUT: signs the request CSR with
# the CA (CA_PEM `self` for a self-signed CA, CA_KEY then being the request's
# own key), with the extensions in file EXTENSIONS, a random serial, valid
# from a day ago until DAYS days from now, into OUT. Quiet unless it fails.
tls_sign() {
  local csr="$1" ca_pem="$2" ca_key="$3" days="$4" extensions="$5" out="$6" tmp start rc=0
  local -a issuer=(-cert "$ca_pem")
  [ "$ca_pem" = self ] && issuer=(-selfsign)
  tmp="$(mktemp -d)"
  : >"$tmp/index.txt"
  echo 01 >"$tmp/serial" # named in the config; -rand_serial picks the serial
  printf '%s\n' "[ca]" "default_ca = local" "[local]" "database = $tmp/index.txt" \
    "serial = $tmp/serial" "new_certs_dir = $tmp" "default_md = sha256" "policy = any" \
    "unique_subject = no" "[any]" "organizationName = optional" "commonName = optional" >"$tmp/ca.cnf"
  cat "$extensions" >"$tmp/extensions.cnf"
  start="$(date -u -d "@$(($(date +%s) - TLS_BACKDATE_SECONDS))" +%y%m%d%H%M%SZ)"
  openssl ca -batch -notext -preserveDN -rand_serial -config "$tmp/ca.cnf" "${issuer[@]}" \
    -keyfile "$ca_key" -in "$csr" -startdate "$start" -days "$days" \
    -extfile "$tmp/extensions.cnf" -out "$out" >"$tmp/log" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || cat "$tmp/log" >&2
  rm -rf "$tmp"
  return "$rc"
}
