# Writes the boot-timer port, prints "hello\n" on ttyS0 with one rep outsb
# (a KVM_EXIT_IO with count 6), then resets through the i8042.
.intel_syntax noprefix
.code64
.text
_start:
  mov dx, 0x3f0
  out dx, al
  lea rsi, [rip + msg]
  mov ecx, msg_end - msg
  mov dx, 0x3f8
  rep outsb
  jmp reset
msg: .ascii "hello\n"
msg_end:
.include "lib.inc"
