# Run in a copy of this case: links git would not keep as they are.
set -e
mkdir -p tree/sub
echo content > tree/file
echo s > tree/sub/s
ln -s file tree/rel-link
ln -s /etc/passwd tree/abs-link
ln -s sub tree/dir-link
ln -s nowhere tree/dangling
ln tree/file tree/hard
ln tree/sub/s tree/hard-in-other-dir
