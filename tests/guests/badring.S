# A hostile driver: puts virtio-blk queue 0's descriptor table beyond guest
# memory (at 3 GiB), sets QueueReady, then prints the Status register (which
# must now carry DEVICE_NEEDS_RESET, 0x40) and the InterruptStatus register,
# and resets.
.intel_syntax noprefix
.code64
.text
_start:
  mov rbx, 0xd0000000
  mov dword ptr [rbx + 0x70], 0
  mov dword ptr [rbx + 0x70], 3
  mov dword ptr [rbx + 0x24], 1
  mov dword ptr [rbx + 0x20], 1
  mov dword ptr [rbx + 0x70], 11
  mov dword ptr [rbx + 0x30], 0
  mov dword ptr [rbx + 0x38], 8
  mov dword ptr [rbx + 0x80], 0xc0000000 # QueueDesc: outside guest memory
  mov dword ptr [rbx + 0x84], 0
  mov dword ptr [rbx + 0x90], 0x201000
  mov dword ptr [rbx + 0xa0], 0x202000
  mov dword ptr [rbx + 0x44], 1          # QueueReady
  lea rsi, [rip + s_status]
  call puts
  mov eax, [rbx + 0x70]
  call puthex32
  call space
  mov eax, [rbx + 0x60]
  call puthex32
  call newline
  jmp reset
s_status: .asciz "status "
.include "lib.inc"
