# The archives are made here (owners, modes and a link git would not keep).
set -e
mkdir -p payload/etc payload/bin
echo conf > payload/etc/app.conf
printf '#!/bin/sh\necho app\n' > payload/bin/app
chmod 0750 payload/bin/app
chmod 0700 payload/etc
ln -s app payload/bin/app-link
tar --numeric-owner --owner=1234 --group=5678 -C payload -czf app.tar.gz .
tar --numeric-owner --owner=0 --group=0 -C payload -cf plain.tar etc
rm -rf payload
