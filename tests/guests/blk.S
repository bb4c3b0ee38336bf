# virtio-blk driver in miniature, on slot 0 (0xd0000000): negotiates
# VIRTIO_F_VERSION_1, sets up queue 0 (8 entries), reads sector 0 and prints
# its first 16 bytes ("read: ...") and the status byte, then writes sector 1
# (a message followed by 'W's) and prints its status, then resets.
# Memory: descriptors 0x200000, avail 0x201000, used 0x202000, request
# header 0x203000, data 0x204000, status 0x205000.
.intel_syntax noprefix
.code64
.text
_start:
  mov rbx, 0xd0000000
  mov dword ptr [rbx + 0x70], 0          # Status: reset
  mov dword ptr [rbx + 0x70], 3          # ACKNOWLEDGE | DRIVER
  mov dword ptr [rbx + 0x24], 1          # DriverFeaturesSel = 1
  mov dword ptr [rbx + 0x20], 1          # VIRTIO_F_VERSION_1 (bit 32)
  mov dword ptr [rbx + 0x24], 0
  mov dword ptr [rbx + 0x20], 0
  mov dword ptr [rbx + 0x70], 11         # | FEATURES_OK
  mov eax, [rbx + 0x70]
  test eax, 8
  jz fail
  mov dword ptr [rbx + 0x30], 0          # QueueSel
  mov dword ptr [rbx + 0x38], 8          # QueueNum
  mov dword ptr [rbx + 0x80], 0x200000   # QueueDesc
  mov dword ptr [rbx + 0x84], 0
  mov dword ptr [rbx + 0x90], 0x201000   # QueueDriver (avail)
  mov dword ptr [rbx + 0x94], 0
  mov dword ptr [rbx + 0xa0], 0x202000   # QueueDevice (used)
  mov dword ptr [rbx + 0xa4], 0
  mov dword ptr [rbx + 0x44], 1          # QueueReady
  mov dword ptr [rbx + 0x70], 15         # | DRIVER_OK

  # read sector 0
  mov rdi, 0x203000
  mov dword ptr [rdi], 0                 # VIRTIO_BLK_T_IN
  mov dword ptr [rdi + 4], 0
  mov qword ptr [rdi + 8], 0             # sector 0
  mov rdi, 0x200000
  mov qword ptr [rdi], 0x203000
  mov dword ptr [rdi + 8], 16
  mov word ptr [rdi + 12], 1             # NEXT
  mov word ptr [rdi + 14], 1
  mov qword ptr [rdi + 16], 0x204000
  mov dword ptr [rdi + 24], 512
  mov word ptr [rdi + 28], 3             # NEXT | WRITE
  mov word ptr [rdi + 30], 2
  mov qword ptr [rdi + 32], 0x205000
  mov dword ptr [rdi + 40], 1
  mov word ptr [rdi + 44], 2             # WRITE
  mov word ptr [rdi + 46], 0
  mov byte ptr [0x205000], 0xff
  mov word ptr [0x201004], 0             # avail ring[0] = head 0
  mov word ptr [0x201002], 1             # avail idx = 1
  mov dword ptr [rbx + 0x50], 0          # QueueNotify
  mov ax, 1
  call wait_used
  lea rsi, [rip + s_read]
  call puts
  mov rsi, 0x204000
  mov ecx, 16
  mov dx, 0x3f8
  rep outsb
  call newline
  call print_status

  # write sector 1
  mov rdi, 0x204000
  mov al, 'W'
  mov ecx, 512
  rep stosb
  lea rsi, [rip + wmsg]
  mov rdi, 0x204000
  mov ecx, wmsg_end - wmsg
  rep movsb
  mov dword ptr [0x203000], 1            # VIRTIO_BLK_T_OUT
  mov qword ptr [0x203008], 1            # sector 1
  mov word ptr [0x20001c], 1             # data descriptor: NEXT, device reads
  mov byte ptr [0x205000], 0xff
  mov word ptr [0x201006], 0             # avail ring[1] = head 0
  mov word ptr [0x201002], 2
  mov dword ptr [rbx + 0x50], 0
  mov ax, 2
  call wait_used
  call print_status
  jmp reset

wait_used:                               # until used idx == ax
  cmp word ptr [0x202002], ax
  jne wait_used
  ret
print_status:
  lea rsi, [rip + s_status]
  call puts
  movzx eax, byte ptr [0x205000]
  call puthex32
  jmp newline
fail:
  lea rsi, [rip + s_fail]
  call puts
  jmp reset
s_read: .asciz "read: "
s_status: .asciz "status "
s_fail: .asciz "FEATURES_OK refused\n"
wmsg: .ascii "written by the guest"
wmsg_end:
.include "lib.inc"
