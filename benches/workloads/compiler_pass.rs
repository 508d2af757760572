//! `compiler_pass`: the toy compiler pass of issue 15, written once and run on three bump arenas,
//! allockit's [`Arena`], bumpalo's `Bump` and bump-scope's `Bump`, and on the platform allocator
//! as the baseline.
//!
//! One pass tokenizes a generated source of `lines` lines, interning every identifier in a map
//! that lives in the arena (`HashMap::new_in(&arena)`, names copied into the arena); parses the
//! tokens into an AST whose nodes (`alloc`) and child lists (`alloc_slice_copy`) live in the
//! arena; walks the AST to a checksum; and resets the arena for the next pass. The arena is made
//! once per run and dropped at its end, so the first pass is cold for every peer and the rest show
//! what each peer's `reset` keeps. The platform baseline allocates every node, list and name
//! with the global allocator and frees them all at its "reset", as a program without an arena
//! would.
//!
//! It is one of the workloads of `benches/workloads/mod.rs` (the map and the vectors reach
//! bump-scope through the adapter of `peers.rs`); `examples/compare.rs` and
//! `benches/strategies.rs` run it:
//!
//! ```text
//! let source = compiler_pass::source(2_000);          // outside the timed part
//! let sum = compiler_pass::run::<compiler_pass::AllockitArena>(&source, 100);
//! // or every arena once, in order: [(name, checksum, elapsed); 4]
//! let rows = compiler_pass::run_all(&source, 100);
//! ```
//!
//! Every arena returns the same checksum for the same source and number of passes; a harness
//! should check that (`run_all` does).
#![allow(dead_code)] // each harness uses its own subset

use std::cell::RefCell;
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use allockit::{Allocator, Arena, HashMap, Layout, Platform, Vec};

use super::peers;

/// What the pass needs of an arena: values and copies of slices and strings that live as long as
/// the arena, an allocator handle for the map and the vectors, and a reset.
pub trait PassArena {
    /// The name in reports: `compiler_pass/NAME`.
    const NAME: &'static str;
    /// The allocator handle that the map and the vectors hold.
    type Alloc<'a>: Allocator + Copy
    where
        Self: 'a;

    /// A fresh, empty arena.
    fn new() -> Self;
    /// The allocator handle for this arena.
    fn handle(&self) -> Self::Alloc<'_>;
    /// Moves `value` into the arena (it is never dropped).
    fn node<T>(&self, value: T) -> &T;
    /// Copies `items` into the arena.
    fn list<T: Copy>(&self, items: &[T]) -> &[T];
    /// Copies `s` into the arena.
    fn name(&self, s: &str) -> &str;
    /// Frees everything for the next pass.
    fn reset(&mut self);
}

/// allockit's `Arena`, with its warm reset.
pub struct AllockitArena(Arena);

impl PassArena for AllockitArena {
    const NAME: &'static str = "arena";
    type Alloc<'a> = &'a Arena;

    fn new() -> Self {
        Self(Arena::new())
    }
    fn handle(&self) -> &Arena {
        &self.0
    }
    fn node<T>(&self, value: T) -> &T {
        self.0.alloc(value)
    }
    fn list<T: Copy>(&self, items: &[T]) -> &[T] {
        self.0.alloc_slice_copy(items)
    }
    fn name(&self, s: &str) -> &str {
        self.0.alloc_str(s)
    }
    fn reset(&mut self) {
        self.0.reset();
    }
}

/// bumpalo's `Bump`, whose reset keeps its newest chunk.
pub struct Bumpalo(bumpalo::Bump);

impl PassArena for Bumpalo {
    const NAME: &'static str = "bumpalo";
    type Alloc<'a> = &'a bumpalo::Bump;

    fn new() -> Self {
        Self(bumpalo::Bump::new())
    }
    fn handle(&self) -> &bumpalo::Bump {
        &self.0
    }
    fn node<T>(&self, value: T) -> &T {
        self.0.alloc(value)
    }
    fn list<T: Copy>(&self, items: &[T]) -> &[T] {
        self.0.alloc_slice_copy(items)
    }
    fn name(&self, s: &str) -> &str {
        self.0.alloc_str(s)
    }
    fn reset(&mut self) {
        self.0.reset();
    }
}

/// bump-scope's `Bump`, whose reset keeps its newest chunk. Its boxes are turned into plain
/// references (`BumpBox::leak`: the value is never dropped), as the other two hand out; the map
/// and the vectors reach it through the adapter of `peers.rs`.
pub struct BumpScope(bump_scope::Bump);

impl PassArena for BumpScope {
    const NAME: &'static str = "bump_scope";
    type Alloc<'a> = peers::BumpScope<'a>;

    fn new() -> Self {
        Self(bump_scope::Bump::new())
    }
    fn handle(&self) -> peers::BumpScope<'_> {
        peers::BumpScope(&self.0)
    }
    fn node<T>(&self, value: T) -> &T {
        bump_scope::BumpBox::leak(self.0.alloc(value))
    }
    fn list<T: Copy>(&self, items: &[T]) -> &[T] {
        bump_scope::BumpBox::leak(self.0.alloc_slice_copy(items))
    }
    fn name(&self, s: &str) -> &str {
        bump_scope::BumpBox::leak(self.0.alloc_str(s))
    }
    fn reset(&mut self) {
        self.0.reset();
    }
}

/// The baseline: every node, list and name is a block of the global allocator, recorded so that
/// `reset` frees them all; the map and the vectors use the platform and free their own blocks.
pub struct PlatformPass {
    /// Every block handed out since the last reset, with its layout.
    blocks: RefCell<std::vec::Vec<(NonNull<u8>, Layout)>>,
}

impl PlatformPass {
    /// A block for `layout` from the platform, recorded for the next reset.
    fn block(&self, layout: Layout) -> NonNull<u8> {
        let block = Platform.allocate(layout).expect("a block").cast::<u8>();
        self.blocks.borrow_mut().push((block, layout));
        block
    }
}

impl PassArena for PlatformPass {
    const NAME: &'static str = "platform";
    type Alloc<'a> = Platform;

    fn new() -> Self {
        Self {
            blocks: RefCell::new(std::vec::Vec::new()),
        }
    }
    fn handle(&self) -> Platform {
        Platform
    }
    fn node<T>(&self, value: T) -> &T {
        let slot = self.block(Layout::new::<T>()).cast::<T>();
        // SAFETY: a fresh block for one `T`, aligned for it; it stays allocated until `reset`,
        // which takes `&mut self`, so no reference handed out here outlives it.
        unsafe {
            slot.as_ptr().write(value);
            slot.as_ref()
        }
    }
    fn list<T: Copy>(&self, items: &[T]) -> &[T] {
        let start = self.block(Layout::for_value(items)).cast::<T>();
        // SAFETY: a fresh block for `items.len()` values of `T`, aligned for them, disjoint from
        // `items`; it stays allocated until `reset` (as in `node`).
        unsafe {
            std::ptr::copy_nonoverlapping(items.as_ptr(), start.as_ptr(), items.len());
            std::slice::from_raw_parts(start.as_ptr(), items.len())
        }
    }
    fn name(&self, s: &str) -> &str {
        let bytes = self.list(s.as_bytes());
        // SAFETY: a copy of the bytes of a `str`.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
    fn reset(&mut self) {
        for (block, layout) in self.blocks.get_mut().drain(..) {
            // SAFETY: every recorded block came from the platform with this layout, and is freed
            // once: the record goes with it.
            unsafe { Platform.deallocate(block, layout) };
        }
    }
}

impl Drop for PlatformPass {
    fn drop(&mut self) {
        self.reset();
    }
}

/// A generated source of `lines` lines: functions of a few statements each, with calls,
/// arithmetic, comparisons and nested blocks, over a few hundred distinct identifiers.
/// Deterministic: the same `lines`, the same text.
pub fn source(lines: usize) -> String {
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let mut text = String::with_capacity(lines * 48);
    let mut written = 0;
    let mut function = 0;
    while written < lines {
        let params = ["a", "b", "c", "count", "total"];
        let arity = 1 + next(3) as usize;
        text.push_str(&format!(
            "fn f{function}({}) {{\n",
            params[..arity].join(", ")
        ));
        written += 1;
        let body = 3 + next(6) as usize;
        for s in 0..body {
            let var = format!("v{}_{}", next(40), s);
            let callee = next((function + 1) as u64);
            let k = next(100);
            let line = match next(4) {
                0 => format!(
                    "  let {var} = {} * {k} + (b - {}) * f{callee}({}, {k});\n",
                    params[0],
                    params[arity - 1],
                    params[0]
                ),
                1 => format!(
                    "  if {} > {k} {{ return {} - f{callee}({k}); }}\n",
                    params[0], params[0]
                ),
                2 => format!(
                    "  let {var} = f{callee}(a + {k}, sym{}) * tmp{};\n",
                    next(200),
                    next(60)
                ),
                _ => format!("  let {var} = (a + b) * (c - {k}) + count * total;\n"),
            };
            text.push_str(&line);
            written += 1;
        }
        text.push_str(&format!("  return {} + {function};\n}}\n", params[0]));
        written += 2;
        function += 1;
    }
    text
}

/// A token; identifiers are interned, so they are a small number.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Token {
    Ident(u32),
    Number(i64),
    Punct(u8),
    Fn,
    Let,
    If,
    Return,
}

/// An expression node in the arena.
#[derive(Debug)]
enum Expr<'a> {
    Number(i64),
    Var(u32),
    Binary(u8, &'a Expr<'a>, &'a Expr<'a>),
    Call(u32, &'a [&'a Expr<'a>]),
}

/// A statement node in the arena.
#[derive(Debug)]
enum Stmt<'a> {
    Let(u32, &'a Expr<'a>),
    If(&'a Expr<'a>, &'a [&'a Stmt<'a>]),
    Return(&'a Expr<'a>),
}

/// A function in the arena.
#[derive(Debug)]
struct Function<'a> {
    name: u32,
    params: &'a [u32],
    body: &'a [&'a Stmt<'a>],
}

/// Splits `source` into tokens in a vector in the arena, interning identifiers in `names`.
fn tokenize<'a, P: PassArena>(
    arena: &'a P,
    source: &str,
    names: &mut HashMap<&'a str, u32, P::Alloc<'a>>,
) -> Vec<Token, P::Alloc<'a>> {
    let mut tokens = Vec::new_in(arena.handle());
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &source[start..i];
            tokens.push(match word {
                "fn" => Token::Fn,
                "let" => Token::Let,
                "if" => Token::If,
                "return" => Token::Return,
                _ => Token::Ident(match names.get(word) {
                    Some(&id) => id,
                    None => {
                        let id = names.len() as u32;
                        names.insert(arena.name(word), id);
                        id
                    }
                }),
            });
        } else if c.is_ascii_digit() {
            let mut value = 0i64;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                value = value * 10 + i64::from(bytes[i] - b'0');
                i += 1;
            }
            tokens.push(Token::Number(value));
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    tokens
}

/// A recursive-descent parser over the tokens, building nodes in the arena. Child lists are
/// gathered on scratch stacks in the arena and copied into it whole.
struct Parser<'a, 't, P: PassArena> {
    arena: &'a P,
    tokens: &'t [Token],
    at: usize,
    exprs: Vec<&'a Expr<'a>, P::Alloc<'a>>,
    stmts: Vec<&'a Stmt<'a>, P::Alloc<'a>>,
    params: Vec<u32, P::Alloc<'a>>,
}

impl<'a, P: PassArena> Parser<'a, '_, P> {
    fn peek(&self) -> Token {
        self.tokens.get(self.at).copied().unwrap_or(Token::Punct(0))
    }

    fn bump(&mut self) -> Token {
        let token = self.peek();
        self.at += 1;
        token
    }

    fn expect(&mut self, punct: u8) {
        let token = self.bump();
        assert_eq!(token, Token::Punct(punct), "at token {}", self.at - 1);
    }

    fn ident(&mut self) -> u32 {
        match self.bump() {
            Token::Ident(id) => id,
            other => panic!("expected an identifier, found {other:?}"),
        }
    }

    fn program(&mut self) -> &'a [&'a Function<'a>] {
        let mut functions = Vec::new_in(self.arena.handle());
        while self.peek() == Token::Fn {
            functions.push(self.function());
        }
        self.arena.list(&functions)
    }

    fn function(&mut self) -> &'a Function<'a> {
        self.bump();
        let name = self.ident();
        self.expect(b'(');
        let start = self.params.len();
        while self.peek() != Token::Punct(b')') {
            let param = self.ident();
            self.params.push(param);
            if self.peek() == Token::Punct(b',') {
                self.bump();
            }
        }
        self.bump();
        let params = self.arena.list(&self.params[start..]);
        self.params.truncate(start);
        let body = self.block();
        self.arena.node(Function { name, params, body })
    }

    fn block(&mut self) -> &'a [&'a Stmt<'a>] {
        self.expect(b'{');
        let start = self.stmts.len();
        while self.peek() != Token::Punct(b'}') {
            let stmt = self.statement();
            self.stmts.push(stmt);
        }
        self.bump();
        let body = self.arena.list(&self.stmts[start..]);
        self.stmts.truncate(start);
        body
    }

    fn statement(&mut self) -> &'a Stmt<'a> {
        let stmt = match self.bump() {
            Token::Let => {
                let name = self.ident();
                self.expect(b'=');
                let value = self.expression();
                self.expect(b';');
                Stmt::Let(name, value)
            }
            Token::If => {
                let condition = self.expression();
                Stmt::If(condition, self.block())
            }
            Token::Return => {
                let value = self.expression();
                self.expect(b';');
                Stmt::Return(value)
            }
            other => panic!("expected a statement, found {other:?}"),
        };
        self.arena.node(stmt)
    }

    fn expression(&mut self) -> &'a Expr<'a> {
        let left = self.sum();
        match self.peek() {
            Token::Punct(op @ (b'<' | b'>')) => {
                self.bump();
                let right = self.sum();
                self.arena.node(Expr::Binary(op, left, right))
            }
            _ => left,
        }
    }

    fn sum(&mut self) -> &'a Expr<'a> {
        let mut left = self.term();
        while let Token::Punct(op @ (b'+' | b'-')) = self.peek() {
            self.bump();
            let right = self.term();
            left = self.arena.node(Expr::Binary(op, left, right));
        }
        left
    }

    fn term(&mut self) -> &'a Expr<'a> {
        let mut left = self.atom();
        while self.peek() == Token::Punct(b'*') {
            self.bump();
            let right = self.atom();
            left = self.arena.node(Expr::Binary(b'*', left, right));
        }
        left
    }

    fn atom(&mut self) -> &'a Expr<'a> {
        match self.bump() {
            Token::Number(value) => self.arena.node(Expr::Number(value)),
            Token::Punct(b'(') => {
                let inner = self.expression();
                self.expect(b')');
                inner
            }
            Token::Ident(id) if self.peek() == Token::Punct(b'(') => {
                self.bump();
                let start = self.exprs.len();
                while self.peek() != Token::Punct(b')') {
                    let arg = self.expression();
                    self.exprs.push(arg);
                    if self.peek() == Token::Punct(b',') {
                        self.bump();
                    }
                }
                self.bump();
                let args = self.arena.list(&self.exprs[start..]);
                self.exprs.truncate(start);
                self.arena.node(Expr::Call(id, args))
            }
            Token::Ident(id) => self.arena.node(Expr::Var(id)),
            other => panic!("expected an expression, found {other:?}"),
        }
    }
}

/// Folds an expression to a number: what a walk over the AST computes.
fn fold(expr: &Expr<'_>) -> u64 {
    match *expr {
        Expr::Number(value) => value as u64,
        Expr::Var(id) => u64::from(id),
        Expr::Binary(op, left, right) => {
            let (l, r) = (fold(left), fold(right));
            match op {
                b'+' => l.wrapping_add(r),
                b'-' => l.wrapping_sub(r),
                b'*' => l.wrapping_mul(r),
                _ => u64::from(l < r),
            }
        }
        Expr::Call(callee, args) => args
            .iter()
            .fold(u64::from(callee), |acc, arg| acc.rotate_left(5) ^ fold(arg)),
    }
}

fn walk(statements: &[&Stmt<'_>]) -> u64 {
    statements.iter().fold(0u64, |acc, stmt| {
        let value = match **stmt {
            Stmt::Let(name, value) => u64::from(name).wrapping_mul(31) ^ fold(value),
            Stmt::If(condition, body) => fold(condition).wrapping_add(walk(body)),
            Stmt::Return(value) => fold(value),
        };
        acc.rotate_left(7).wrapping_add(value)
    })
}

/// One pass over `source` in `arena`: tokenize, parse, walk. Returns the walk's checksum.
pub fn pass<P: PassArena>(arena: &P, source: &str) -> u64 {
    let mut names = HashMap::new_in(arena.handle());
    let tokens = tokenize(arena, source, &mut names);
    let mut parser = Parser {
        arena,
        tokens: &tokens,
        at: 0,
        exprs: Vec::new_in(arena.handle()),
        stmts: Vec::new_in(arena.handle()),
        params: Vec::new_in(arena.handle()),
    };
    let program = parser.program();
    assert_eq!(parser.at, tokens.len(), "the parser stopped early");
    let mut sum = names.len() as u64;
    for function in program {
        sum = sum
            .rotate_left(3)
            .wrapping_add(u64::from(function.name) + function.params.len() as u64)
            .wrapping_add(walk(function.body));
    }
    black_box(sum)
}

/// `passes` passes over `source` in one arena of kind `P`, reset between passes.
pub fn run<P: PassArena>(source: &str, passes: usize) -> u64 {
    let mut arena = P::new();
    let mut sum = 0u64;
    for _ in 0..passes {
        sum = sum.wrapping_add(pass(&arena, source));
        arena.reset();
    }
    sum
}

/// Runs [`run`] once for each arena, in the order platform, allockit, bumpalo, bump-scope, and
/// returns `(name, checksum, elapsed)` for each; panics if the checksums differ.
pub fn run_all(source: &str, passes: usize) -> [(&'static str, u64, Duration); 4] {
    fn timed<P: PassArena>(source: &str, passes: usize) -> (&'static str, u64, Duration) {
        let start = Instant::now();
        let sum = run::<P>(source, passes);
        (P::NAME, sum, start.elapsed())
    }
    let rows = [
        timed::<PlatformPass>(source, passes),
        timed::<AllockitArena>(source, passes),
        timed::<Bumpalo>(source, passes),
        timed::<BumpScope>(source, passes),
    ];
    assert!(
        rows.iter().all(|row| row.1 == rows[0].1),
        "the peers disagree: {rows:?}"
    );
    rows
}
