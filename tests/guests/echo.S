# Serial input: polls LSR.DR, echoes each byte read from RBR back to THR
# until a newline, then resets.
.intel_syntax noprefix
.code64
.text
_start:
  mov dx, 0x3fd                          # LSR
wait_rx:
  in al, dx
  test al, 1                             # DR: data ready
  jz wait_rx
  mov dx, 0x3f8
  in al, dx                              # RBR
  out dx, al                             # THR
  cmp al, 10
  je reset
  mov dx, 0x3fd
  jmp wait_rx
.include "lib.inc"
