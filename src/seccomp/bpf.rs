//! Classic BPF as seccomp filters use it: one set of constants, named as in the kernel's
//! `include/uapi/linux/bpf_common.h` and `filter.h` (seccompiler's `backend/bpf.rs` is the
//! model). An opcode is `class | size/op | mode/source`: `BPF_JMP | BPF_JA` is 0x05,
//! `BPF_JA` alone (an op field) is 0x00. The whole opcodes the compiler emits are composed
//! from them at the end, so no second spelling exists.
//!
//! Compiled by `build.rs` too (as a sibling of `compile`): imports nothing.

// Instruction classes (`BPF_CLASS(code)`, the low 3 bits).
pub const BPF_LD: u16 = 0x00;
pub const BPF_LDX: u16 = 0x01;
pub const BPF_ST: u16 = 0x02;
pub const BPF_STX: u16 = 0x03;
pub const BPF_ALU: u16 = 0x04;
pub const BPF_JMP: u16 = 0x05;
pub const BPF_RET: u16 = 0x06;
pub const BPF_MISC: u16 = 0x07;

// ld/ldx: operand size (`BPF_SIZE(code)`, 0x18) and addressing mode (`BPF_MODE(code)`, 0xe0).
pub const BPF_W: u16 = 0x00;
pub const BPF_IMM: u16 = 0x00;
pub const BPF_ABS: u16 = 0x20;
pub const BPF_MEM: u16 = 0x60;

// alu/jmp: operation (`BPF_OP(code)`, 0xf0) and source (`BPF_SRC(code)`, 0x08).
pub const BPF_ADD: u16 = 0x00;
pub const BPF_SUB: u16 = 0x10;
pub const BPF_MUL: u16 = 0x20;
pub const BPF_DIV: u16 = 0x30;
pub const BPF_OR: u16 = 0x40;
pub const BPF_AND: u16 = 0x50;
pub const BPF_LSH: u16 = 0x60;
pub const BPF_RSH: u16 = 0x70;
pub const BPF_NEG: u16 = 0x80;
pub const BPF_MOD: u16 = 0x90;
pub const BPF_XOR: u16 = 0xa0;
pub const BPF_JA: u16 = 0x00;
pub const BPF_JEQ: u16 = 0x10;
pub const BPF_JGT: u16 = 0x20;
pub const BPF_JGE: u16 = 0x30;
pub const BPF_JSET: u16 = 0x40;
pub const BPF_K: u16 = 0x00;
pub const BPF_X: u16 = 0x08;

// ret: the returned value (`BPF_RVAL(code)`, 0x18).
pub const BPF_A: u16 = 0x10;

// misc: the operation (`BPF_MISCOP(code)`, 0xf8).
pub const BPF_TAX: u16 = 0x00;
pub const BPF_TXA: u16 = 0x80;

/// `BPF_CLASS(code)`.
pub const fn class(code: u16) -> u16 {
    code & 0x07
}
/// `BPF_SIZE(code)`.
pub const fn size(code: u16) -> u16 {
    code & 0x18
}
/// `BPF_MODE(code)`.
pub const fn mode(code: u16) -> u16 {
    code & 0xe0
}
/// `BPF_OP(code)`.
pub const fn op(code: u16) -> u16 {
    code & 0xf0
}
/// `BPF_SRC(code)`.
pub const fn src(code: u16) -> u16 {
    code & 0x08
}
/// `BPF_RVAL(code)`.
pub const fn rval(code: u16) -> u16 {
    code & 0x18
}
/// `BPF_MISCOP(code)`.
pub const fn miscop(code: u16) -> u16 {
    code & 0xf8
}

// The whole opcodes a seccomp filter of secure-init's is made of.
/// `A = seccomp_data[k]` (a 32-bit word).
pub const LD_W_ABS: u16 = BPF_LD | BPF_W | BPF_ABS;
/// `pc += (A == k) ? jt : jf`.
pub const JEQ_K: u16 = BPF_JMP | BPF_JEQ | BPF_K;
/// `pc += (A > k) ? jt : jf`.
pub const JGT_K: u16 = BPF_JMP | BPF_JGT | BPF_K;
/// `pc += (A >= k) ? jt : jf`.
pub const JGE_K: u16 = BPF_JMP | BPF_JGE | BPF_K;
/// `pc += (A & k) ? jt : jf`.
pub const JSET_K: u16 = BPF_JMP | BPF_JSET | BPF_K;
/// `pc += k` (jt and jf unused).
pub const JMP_JA: u16 = BPF_JMP | BPF_JA;
/// `return k`.
pub const RET_K: u16 = BPF_RET | BPF_K;

/// The kernel's limit on a filter's length (`BPF_MAXINSNS`).
pub const BPF_MAXINSNS: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_opcodes_are_the_kernels() {
        // the values of <linux/filter.h>'s BPF_STMT/BPF_JUMP codes as seccomp filters use them
        assert_eq!(
            [LD_W_ABS, JEQ_K, JGT_K, JGE_K, JSET_K, JMP_JA, RET_K],
            [0x20, 0x15, 0x25, 0x35, 0x45, 0x05, 0x06]
        );
        assert_eq!(class(JMP_JA), BPF_JMP);
        assert_eq!(op(JMP_JA), BPF_JA);
        assert_eq!(op(JEQ_K), BPF_JEQ);
        assert_eq!(mode(LD_W_ABS), BPF_ABS);
        assert_eq!(size(LD_W_ABS), BPF_W);
        assert_eq!(src(JEQ_K), BPF_K);
        assert_eq!(rval(RET_K), BPF_K);
    }
}
