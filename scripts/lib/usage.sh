# Sourced by the scripts: the same --help and the same answer to an unknown argument
# everywhere.
#   usage                  prints the script's leading comment (its usage)
#   unknown_argument ARG   names ARG, points to --help, exits 2
usage() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; }
unknown_argument() {
  echo "$(basename "$0" .sh): unknown argument '$1' (try $0 --help)" >&2
  exit 2
}
