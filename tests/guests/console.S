# virtio-console driver in miniature on slot 0: queue 0 (receiveq) and
# queue 1 (transmitq), 8 entries each. Sends "console out\n" on the transmitq,
# then posts one 64-byte receive buffer, waits for it, prints "rx: <bytes>"
# on ttyS0 and resets.
# Memory: rx rings 0x200000/0x201000/0x202000, tx rings
# 0x210000/0x211000/0x212000, rx buffer 0x204000.
.intel_syntax noprefix
.code64
.text
_start:
  mov rbx, 0xd0000000
  mov dword ptr [rbx + 0x70], 0
  mov dword ptr [rbx + 0x70], 3
  mov dword ptr [rbx + 0x24], 1
  mov dword ptr [rbx + 0x20], 1          # VIRTIO_F_VERSION_1
  mov dword ptr [rbx + 0x70], 11
  mov dword ptr [rbx + 0x30], 0          # receiveq
  mov dword ptr [rbx + 0x38], 8
  mov dword ptr [rbx + 0x80], 0x200000
  mov dword ptr [rbx + 0x90], 0x201000
  mov dword ptr [rbx + 0xa0], 0x202000
  mov dword ptr [rbx + 0x44], 1
  mov dword ptr [rbx + 0x30], 1          # transmitq
  mov dword ptr [rbx + 0x38], 8
  mov dword ptr [rbx + 0x80], 0x210000
  mov dword ptr [rbx + 0x90], 0x211000
  mov dword ptr [rbx + 0xa0], 0x212000
  mov dword ptr [rbx + 0x44], 1
  mov dword ptr [rbx + 0x70], 15         # DRIVER_OK

  lea rax, [rip + msg]                   # identity-mapped: virtual = physical
  mov qword ptr [0x210000], rax
  mov dword ptr [0x210008], msg_end - msg
  mov word ptr [0x21000c], 0
  mov word ptr [0x211004], 0
  mov word ptr [0x211002], 1
  mov dword ptr [rbx + 0x50], 1          # notify transmitq
wait_tx:
  cmp word ptr [0x212002], 1
  jne wait_tx

  mov qword ptr [0x200000], 0x204000
  mov dword ptr [0x200008], 64
  mov word ptr [0x20000c], 2             # WRITE
  mov word ptr [0x201004], 0
  mov word ptr [0x201002], 1
  mov dword ptr [rbx + 0x50], 0          # notify receiveq
wait_rx:
  cmp word ptr [0x202002], 1
  jne wait_rx
  lea rsi, [rip + s_rx]
  call puts
  mov ecx, [0x202008]                    # used ring[0].len
  mov rsi, 0x204000
  mov dx, 0x3f8
  rep outsb
  call newline
  jmp reset
msg: .ascii "console out\n"
msg_end:
s_rx: .asciz "rx: "
.include "lib.inc"
