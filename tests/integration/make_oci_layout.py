#!/usr/bin/python3
"""Writes an OCI image layout for the registry tests and scripts/bench-registry.sh,
independently of hvrun (so that skopeo can push it and hvrun pull it back).

usage: make_oci_layout.py OUT ROOTFS [--random N:MB] [--index] [--env K=V]
  layer 1: ROOTFS as a gzip tar; then N layers each holding one file of MB
  megabytes of random (incompressible) bytes, gzip level 1.
  --index: the layout's image is an OCI index with a linux/amd64 manifest
  (Env PICK=amd64) and a linux/arm64 one (Env PICK=arm64).
"""
import argparse, gzip, hashlib, io, json, os, tarfile

ap = argparse.ArgumentParser()
ap.add_argument('out')
ap.add_argument('rootfs')
ap.add_argument('--random', default='0:0')
ap.add_argument('--index', action='store_true')
ap.add_argument('--env', action='append', default=[])
a = ap.parse_args()
blobs = os.path.join(a.out, 'blobs', 'sha256')
os.makedirs(blobs, exist_ok=True)


def put(data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, h), 'wb') as f:
        f.write(data)
    return h, len(data)


def layer(add):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w', format=tarfile.PAX_FORMAT) as t:
        add(t)
    tar = raw.getvalue()
    gz = gzip.compress(tar, compresslevel=1, mtime=0)
    h, n = put(gz)
    return {'mediaType': 'application/vnd.oci.image.layer.v1.tar+gzip', 'digest': 'sha256:' + h, 'size': n}, \
        'sha256:' + hashlib.sha256(tar).hexdigest()


def add_rootfs(t):
    for root, dirs, files in sorted(os.walk(a.rootfs)):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            p = os.path.join(root, name)
            t.add(p, arcname=os.path.relpath(p, a.rootfs), recursive=False)


layers, diffs = [], []
d, i = layer(add_rootfs)
layers.append(d)
diffs.append(i)
n, mb = (int(x) for x in a.random.split(':'))
for k in range(n):
    def add_random(t, k=k):
        data = os.urandom(mb << 20)
        ti = tarfile.TarInfo('data/random-%d.bin' % k)
        ti.size = len(data)
        ti.mode = 0o644
        t.addfile(ti, io.BytesIO(data))
    d, i = layer(add_random)
    layers.append(d)
    diffs.append(i)


def manifest(arch):
    env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] + a.env
    if a.index:
        env.append('PICK=' + arch)
    cfg = {'architecture': arch, 'os': 'linux', 'config': {'Env': env, 'Cmd': ['/bin/sh']},
           'rootfs': {'type': 'layers', 'diff_ids': diffs}}
    ch, cn = put(json.dumps(cfg).encode())
    m = {'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
         'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': 'sha256:' + ch, 'size': cn},
         'layers': layers}
    mh, mn = put(json.dumps(m).encode())
    return {'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': 'sha256:' + mh, 'size': mn,
            'platform': {'architecture': arch, 'os': 'linux'}}


if a.index:
    idx = {'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.index.v1+json',
           'manifests': [manifest('arm64'), manifest('amd64')]}
    ih, inn = put(json.dumps(idx).encode())
    top = {'mediaType': 'application/vnd.oci.image.index.v1+json', 'digest': 'sha256:' + ih, 'size': inn}
else:
    top = manifest('amd64')
    del top['platform']
top['annotations'] = {'org.opencontainers.image.ref.name': 'latest'}
with open(os.path.join(a.out, 'index.json'), 'w') as f:
    json.dump({'schemaVersion': 2, 'manifests': [top]}, f)
with open(os.path.join(a.out, 'oci-layout'), 'w') as f:
    json.dump({'imageLayoutVersion': '1.0.0'}, f)
