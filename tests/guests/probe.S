# Reads MagicValue, Version and DeviceID of virtio-mmio slots 0-2 and prints
# "slot N MAGIC VERSION DEVICEID" per slot, then resets.
.intel_syntax noprefix
.code64
.text
_start:
  mov rbx, 0xd0000000
  xor r12d, r12d
next_slot:
  lea rsi, [rip + s_slot]
  call puts
  mov eax, r12d
  add al, '0'
  call putc
  call space
  mov eax, [rbx]
  call puthex32
  call space
  mov eax, [rbx + 4]
  call puthex32
  call space
  mov eax, [rbx + 8]
  call puthex32
  call newline
  add rbx, 0x1000
  inc r12d
  cmp r12d, 3
  jb next_slot
  jmp reset
s_slot: .asciz "slot "
.include "lib.inc"
