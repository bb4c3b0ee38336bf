# Prints a line, loads an empty IDT and touches unmapped memory (above the
# 4 GiB identity map): #PF -> #GP -> #DF -> triple fault (KVM_EXIT_SHUTDOWN).
# (Not int3: PVM's instruction emulator lacks it.)
.intel_syntax noprefix
.code64
.text
_start:
  lea rsi, [rip + msg]
  call puts
  lidt [rip + idtr]
  mov rax, 0x200000000
  mov eax, [rax]
  jmp reset
idtr: .word 0
  .quad 0
msg: .asciz "faulting\n"
.include "lib.inc"
