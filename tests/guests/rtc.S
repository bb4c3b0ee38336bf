# Reads CMOS RTC century, year, month and day (binary mode) and prints them
# as "rtc CCYY-MM-DD" in hex digits of each byte, then resets.
.intel_syntax noprefix
.code64
.text
_start:
  lea rsi, [rip + s_rtc]
  call puts
  mov al, 0x32
  call cmos
  mov al, 0x09
  call cmos
  mov al, 0x08
  call cmos
  mov al, 0x07
  call cmos
  call newline
  jmp reset
cmos:                                    # al = register; prints its value as 8 hex digits + space
  out 0x70, al
  in al, 0x71
  movzx eax, al
  call puthex32
  jmp space
s_rtc: .asciz "rtc "
.include "lib.inc"
