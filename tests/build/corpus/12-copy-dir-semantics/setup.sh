# Modes and owners git does not keep: COPY keeps modes, resets owners to 0:0.
set -e
chmod 0600 dir/private
chmod 0750 dir/sub
chmod 0755 tool.sh
chown 1234:5678 a.txt
