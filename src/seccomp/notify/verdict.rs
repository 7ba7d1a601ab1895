//! A classic-BPF interpreter: the original filter's verdict for a notification, as the
//! kernel would have given it (the answer is always the profile's own errno: nothing is
//! decided by looking at user memory).

use super::BPF_MAXINSNS as MAX_INSNS;
use crate::seccomp::bpf::{
    self, BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_DIV, BPF_IMM, BPF_JA, BPF_JEQ, BPF_JGE,
    BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LSH, BPF_MEM, BPF_MISC, BPF_MOD,
    BPF_MUL, BPF_NEG, BPF_OR, BPF_RET, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_TAX, BPF_W, BPF_X,
    BPF_XOR,
};

/// What the filter sees: `struct seccomp_data`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Data {
    pub nr: i32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl Data {
    /// The 32-bit word at byte offset `off` of `struct seccomp_data` (the kernel's layout:
    /// nr, arch, instruction_pointer, args[6]; 64-bit values in host byte order).
    fn word(&self, off: u32) -> Option<u32> {
        let half = |v: u64, high: bool| {
            let lo_first = cfg!(target_endian = "little");
            if high == lo_first {
                (v >> 32) as u32
            } else {
                v as u32
            }
        };
        match off {
            0 => Some(self.nr as u32),
            4 => Some(self.arch),
            8 | 12 => Some(half(self.ip, off == 12)),
            16..=63 if off.is_multiple_of(4) => {
                let i = ((off - 16) / 8) as usize;
                Some(half(self.args[i], (off - 16) % 8 == 4))
            }
            _ => None,
        }
    }
}

/// Run a classic-BPF seccomp program on `d`: the verdict the kernel would return. Anything
/// outside the seccomp subset, a jump out of range or a fall off the end gives
/// `SECCOMP_RET_KILL_PROCESS` (the caller then answers EPERM).
pub fn evaluate(prog: &[libc::sock_filter], d: &Data) -> u32 {
    interpret(prog, d, true).unwrap_or(libc::SECCOMP_RET_KILL_PROCESS)
}

/// The verdict for system call `nr` whatever its arguments and instruction pointer; None
/// when the program reads either (as the kernel's own action cache decides).
pub fn const_verdict(prog: &[libc::sock_filter], nr: i32, arch: u32) -> Option<u32> {
    let d = Data {
        nr,
        arch,
        ..Data::default()
    };
    interpret(prog, &d, false)
}

/// [`evaluate`]; with `args_known` false, None at the first read of an argument or the
/// instruction pointer.
pub(crate) fn interpret(prog: &[libc::sock_filter], d: &Data, args_known: bool) -> Option<u32> {
    const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    let mut steps = 0;
    while let Some(f) = prog.get(pc) {
        steps += 1;
        if steps > MAX_INSNS * 2 {
            return Some(KILL);
        }
        pc += 1;
        match bpf::class(f.code) {
            BPF_LD => match bpf::mode(f.code) {
                BPF_ABS if !args_known && f.k >= 8 => return None,
                BPF_ABS if bpf::size(f.code) == BPF_W => match d.word(f.k) {
                    Some(v) => a = v,
                    None => return Some(KILL),
                },
                BPF_IMM => a = f.k,
                BPF_MEM => a = *mem.get(f.k as usize).unwrap_or(&0),
                _ => return Some(KILL),
            },
            BPF_LDX => match bpf::mode(f.code) {
                BPF_IMM => x = f.k,
                BPF_MEM => x = *mem.get(f.k as usize).unwrap_or(&0),
                _ => return Some(KILL),
            },
            BPF_ST => match mem.get_mut(f.k as usize) {
                Some(m) => *m = a,
                None => return Some(KILL),
            },
            BPF_STX => match mem.get_mut(f.k as usize) {
                Some(m) => *m = x,
                None => return Some(KILL),
            },
            BPF_ALU => {
                let v = if bpf::src(f.code) == BPF_X { x } else { f.k };
                a = match bpf::op(f.code) {
                    BPF_ADD => a.wrapping_add(v),
                    BPF_SUB => a.wrapping_sub(v),
                    BPF_MUL => a.wrapping_mul(v),
                    BPF_DIV if v != 0 => a / v,
                    BPF_OR => a | v,
                    BPF_AND => a & v,
                    BPF_LSH => a.checked_shl(v).unwrap_or(0),
                    BPF_RSH => a.checked_shr(v).unwrap_or(0),
                    BPF_NEG => a.wrapping_neg(),
                    BPF_MOD if v != 0 => a % v,
                    BPF_XOR => a ^ v,
                    _ => return Some(KILL),
                };
            }
            BPF_JMP => {
                let v = if bpf::src(f.code) == BPF_X { x } else { f.k };
                let op = bpf::op(f.code);
                if op == BPF_JA {
                    pc += f.k as usize;
                    continue;
                }
                let taken = match op {
                    BPF_JEQ => a == v,
                    BPF_JGT => a > v,
                    BPF_JGE => a >= v,
                    BPF_JSET => a & v != 0,
                    _ => return Some(KILL),
                };
                pc += if taken { f.jt } else { f.jf } as usize;
            }
            BPF_RET => {
                return Some(match bpf::rval(f.code) {
                    BPF_K => f.k,
                    BPF_A => a,
                    _ => KILL,
                })
            }
            BPF_MISC => {
                if bpf::miscop(f.code) == BPF_TAX {
                    x = a;
                } else {
                    a = x; // BPF_TXA
                }
            }
            _ => return Some(KILL),
        }
    }
    Some(KILL)
}
