//! Lowering: walks the items of a program in order, keeps the name scopes,
//! inlines user functions and builds the graph. Every error becomes a
//! diagnostic and an [`Value::Error`] that silences follow-on errors, so one
//! run reports every independent problem in a file.

use std::collections::HashMap;

use tx_ir::{
    AxisSlice, BinaryOp, DType, Dim, Graph, GraphError, Init, Inverse, Layer, Model, NodeId, Op, Scalar, Setting,
    Shape, TrainSpec, Type, UnaryOp,
};
use tx_syntax::Diagnostic;
use tx_syntax::ast::{self, Expr, ExprKind, Ident, IndexItem, ItemKind, Span};

use crate::builtins::{self, CallArgs};
use crate::value::Value;

/// Deepest chain of user-function calls being inlined at once.
const MAX_CALL_DEPTH: usize = 32;
/// Expression evaluations allowed while lowering one file: bounds the work
/// of programs whose inlining blows up exponentially.
const MAX_WORK: u64 = 2_000_000;
/// Largest graph a file may produce.
const MAX_NODES: usize = 1_000_000;

/// Lowers a parsed program; the model is meaningful only without errors.
pub fn lower(program: &ast::Program, source: &str) -> (Model, Vec<Diagnostic>) {
    let mut lowerer = Lowerer::new(program, source);
    for item in &program.items {
        lowerer.item(item);
    }
    lowerer.check_uncalled_functions(program);
    let Lowerer { graph, loss, metrics, layers, train, diagnostics, .. } = lowerer;
    let train = train.into_iter().map(|(spec, _)| spec).collect();
    (Model { graph, loss, metrics, layers, train }, diagnostics)
}

#[derive(Clone, Debug)]
enum Binding {
    Input(NodeId),
    Param(NodeId),
    /// `let`, `layer` and `const` values.
    Value(Value),
    /// A symbolic dimension introduced by an input's type.
    Dim,
}

#[derive(Clone, Debug)]
struct Global {
    binding: Binding,
    kind: &'static str,
    span: Span,
}

/// Parameters as declared, so that inverse graphs can declare them too.
#[derive(Clone, Debug)]
struct ParamDecl {
    ty: Type,
    init: Init,
    frozen: bool,
}

pub(crate) struct Lowerer<'a> {
    /// For line numbers in notes.
    lines: tx_syntax::LineIndex<'a>,
    pub(crate) graph: Graph,
    globals: HashMap<String, Global>,
    functions: HashMap<String, &'a ast::FnDef>,
    param_decls: HashMap<String, ParamDecl>,
    /// The scope of the function or lambda being lowered (none at top level).
    locals: Option<HashMap<String, Value>>,
    call_stack: Vec<String>,
    /// Functions inlined at least once; the others get a check of their names.
    called: std::collections::HashSet<String>,
    /// While lowering a layer inverse: parameters declared in its graph so far.
    inverse_params: Option<HashMap<String, NodeId>>,
    work: u64,
    /// How many more "did you mean" suggestions may be computed (a cell, so
    /// that suggesting can borrow the scopes it searches).
    suggestions_left: std::cell::Cell<usize>,
    too_large_reported: bool,
    loss: Option<NodeId>,
    metrics: Vec<(String, NodeId)>,
    layers: Vec<Layer>,
    /// The `train` blocks so far, each with where its rule is named.
    train: Vec<(TrainSpec, Span)>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl<'a> Lowerer<'a> {
    fn new(program: &'a ast::Program, source: &'a str) -> Lowerer<'a> {
        let mut lowerer = Lowerer {
            lines: tx_syntax::LineIndex::new(source),
            graph: Graph::new(),
            globals: HashMap::new(),
            functions: HashMap::new(),
            param_decls: HashMap::new(),
            locals: None,
            call_stack: Vec::new(),
            called: std::collections::HashSet::new(),
            inverse_params: None,
            work: 0,
            suggestions_left: std::cell::Cell::new(50),
            too_large_reported: false,
            loss: None,
            metrics: Vec::new(),
            layers: Vec::new(),
            train: Vec::new(),
            diagnostics: Vec::new(),
        };
        // Functions may be called before their definition.
        for item in &program.items {
            if let ItemKind::Fn(def) = &item.kind {
                let name = &def.name.name;
                if builtins::is_builtin(name) {
                    lowerer.report(def.name.span, format!("`{name}` is a builtin function and cannot be redefined"));
                } else if lowerer.functions.contains_key(name) {
                    lowerer.report(def.name.span, format!("function `{name}` is defined twice"));
                } else {
                    for (i, param) in def.params.iter().enumerate() {
                        if def.params[..i].iter().any(|p| p.name == param.name) {
                            lowerer.report(param.span, format!("parameter `{}` of `{name}` is repeated", param.name));
                        }
                    }
                    lowerer.functions.insert(name.clone(), def);
                }
            }
        }
        lowerer
    }

    pub(crate) fn report(&mut self, span: Span, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(span, message));
    }

    /// Reports and returns the error value.
    pub(crate) fn error(&mut self, span: Span, message: impl Into<String>) -> Value {
        self.report(span, message);
        Value::Error
    }

    // ----- items ---------------------------------------------------------

    fn item(&mut self, item: &ast::Item) {
        let first_new = self.graph.len();
        self.item_kind(item);
        // Declarations (and anything not made inside an expression) point at their item.
        let origin = tx_ir::Origin { start: item.span.start, end: item.span.end };
        for id in first_new..self.graph.len() {
            self.graph.set_origin_if_unset(NodeId(id as u32), origin);
        }
    }

    fn item_kind(&mut self, item: &ast::Item) {
        match &item.kind {
            ItemKind::Input { name, ty } => {
                let Some(ty) = self.declared_type(ty, true) else { return };
                match self.graph.input(&name.name, ty) {
                    Ok(id) => self.define(name, Binding::Input(id), "input"),
                    Err(e) => self.report(name.span, e.message),
                }
            }
            ItemKind::Param { name, ty, init, frozen } => {
                let Some(ty) = self.declared_type(ty, false) else { return };
                let Some(init) = self.init(init, &ty, name) else { return };
                match self.graph.param(&name.name, ty.clone(), init.clone(), *frozen) {
                    Ok(id) => {
                        self.param_decls.insert(name.name.clone(), ParamDecl { ty, init, frozen: *frozen });
                        self.define(name, Binding::Param(id), "parameter");
                    }
                    Err(e) => self.report(name.span, e.message),
                }
            }
            ItemKind::Const { name, value } => {
                let v = self.expr(value);
                let v = match v {
                    Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Error => v,
                    other => {
                        let what = other.describe();
                        self.error(value.span, format!("a const must be a number known at compile time, found {what}"))
                    }
                };
                self.define(name, Binding::Value(v), "constant");
            }
            ItemKind::Let { name, value } => {
                let v = self.expr(value);
                self.define(name, Binding::Value(v), "binding");
            }
            ItemKind::Fn(_) => {}
            ItemKind::Output { name, value } => {
                let v = match value {
                    Some(e) => self.expr(e),
                    None => self.resolve(name),
                };
                let span = value.as_ref().map_or(name.span, |e| e.span);
                let node = self.tensor(v, span, "an output");
                // `output y = expr` also binds `y`, as `let` would.
                let duplicate = self.graph.outputs().iter().any(|(n, _)| *n == name.name);
                if value.is_some() && !duplicate {
                    let bound = node.map_or(Value::Error, Value::Node);
                    self.define(name, Binding::Value(bound), "output");
                }
                if let Some(node) = node
                    && let Err(e) = self.graph.add_output(&name.name, node)
                {
                    self.report(name.span, e.message);
                }
            }
            ItemKind::Layer { name, value, inverse } => self.layer(name, value, inverse.as_ref()),
            ItemKind::Loss { value } => {
                let v = self.expr(value);
                let Some(node) = self.tensor(v, value.span, "the loss") else { return };
                let ty = self.graph.ty(node);
                if self.loss.is_some() {
                    self.report(item.span, "the loss is defined twice");
                } else if !(ty.dtype.is_float() && ty.rank() == 0) {
                    let ty = ty.clone();
                    self.report(
                        value.span,
                        format!("the loss must be a float scalar, but it is {ty}; reduce it with `mean` or `sum`"),
                    );
                } else {
                    self.loss = Some(node);
                }
            }
            ItemKind::Metric { name, value } => {
                let v = self.expr(value);
                let node = self.tensor(v, value.span, "a metric");
                if self.metrics.iter().any(|(n, _)| *n == name.name) {
                    self.report(name.span, format!("metric `{}` is defined twice", name.name));
                    return;
                }
                self.define(name, Binding::Value(node.map_or(Value::Error, Value::Node)), "metric");
                let Some(node) = node else { return };
                let ty = self.graph.ty(node).clone();
                if ty.rank() != 0 || ty.dtype == DType::Bool {
                    self.report(value.span, format!("a metric must be a numeric scalar, but `{}` is {ty}", name.name));
                } else {
                    self.metrics.push((name.name.clone(), node));
                }
            }
            ItemKind::Train { rule, settings } => self.train(rule, settings),
        }
    }

    fn define(&mut self, name: &Ident, binding: Binding, kind: &'static str) {
        if let Some(previous) = self.globals.get(&name.name) {
            let message =
                format!("`{}` is already defined (as {} {})", name.name, article(previous.kind), previous.kind);
            let (line, col) = self.lines.line_col(previous.span.start);
            let note = format!("the first definition is at line {line}, column {col}");
            self.diagnostics.push(Diagnostic::error(name.span, message).with_note(note));
            return;
        }
        if self.functions.contains_key(&name.name) || builtins::is_builtin(&name.name) {
            self.report(name.span, format!("`{}` is already the name of a function", name.name));
            return;
        }
        if DType::from_name(&name.name).is_some() {
            self.report(name.span, format!("`{}` is the name of an element type", name.name));
            return;
        }
        self.globals.insert(name.name.clone(), Global { binding, kind, span: name.span });
    }

    /// `f32[B, 784]`: the element type, known sizes, consts and (for inputs)
    /// symbolic dimensions.
    fn declared_type(&mut self, ty: &ast::TypeExpr, allow_symbols: bool) -> Option<Type> {
        let Some(dtype) = DType::from_name(&ty.dtype.name) else {
            self.report(
                ty.dtype.span,
                format!("unknown element type `{}`; expected f32, f64, i64 or bool", ty.dtype.name),
            );
            return None;
        };
        let mut dims = Vec::with_capacity(ty.dims.len());
        let mut ok = true;
        for dim in &ty.dims {
            match dim {
                ast::DimExpr::Size { value, span } => match usize::try_from(*value) {
                    Ok(n) => dims.push(Dim::Known(n)),
                    Err(_) => {
                        self.report(*span, format!("a dimension must be a size of 0 or more, found {value}"));
                        ok = false;
                    }
                },
                ast::DimExpr::Name(ident) => match self.globals.get(&ident.name).map(|g| g.binding.clone()) {
                    Some(Binding::Value(Value::Int(n))) if n >= 0 => dims.push(Dim::Known(n as usize)),
                    Some(Binding::Dim) if allow_symbols => dims.push(Dim::sym(ident.name.clone())),
                    None if allow_symbols
                        && (builtins::is_builtin(&ident.name)
                            || self.functions.contains_key(&ident.name)
                            || DType::from_name(&ident.name).is_some()) =>
                    {
                        self.report(
                            ident.span,
                            format!("`{}` names a function or a type, not a dimension", ident.name),
                        );
                        ok = false;
                    }
                    None if allow_symbols => {
                        self.globals.insert(
                            ident.name.clone(),
                            Global { binding: Binding::Dim, kind: "dimension", span: ident.span },
                        );
                        dims.push(Dim::sym(ident.name.clone()));
                    }
                    Some(Binding::Dim) | None => {
                        self.report(
                            ident.span,
                            format!(
                                "`{}` is not a known size; parameters need sizes known at compile time (a number or a const)",
                                ident.name
                            ),
                        );
                        ok = false;
                    }
                    Some(Binding::Value(v @ (Value::Int(_) | Value::Float(_)))) => {
                        let shown = literal_text(&v);
                        self.report(
                            ident.span,
                            format!("`{}` is {shown}: a dimension must be a whole number of 0 or more", ident.name),
                        );
                        ok = false;
                    }
                    Some(_) => {
                        self.report(
                            ident.span,
                            format!(
                                "`{}` is not a size: a dimension must be a number, a const or a symbol",
                                ident.name
                            ),
                        );
                        ok = false;
                    }
                },
            }
        }
        ok.then(|| Type::new(dtype, Shape(dims)))
    }

    fn init(&mut self, init: &ast::Init, ty: &Type, name: &Ident) -> Option<Init> {
        match init {
            ast::Init::Fill(e) if matches!(&e.kind, ExprKind::Call { callee, .. } if builtins::is_initializer(&callee.name)) =>
            {
                self.report(e.span, "`=` sets every element to a number; use `~` for an initializer such as `~ normal(0, 0.1, seed = 1)`");
                None
            }
            ast::Init::Fill(e) => match self.expr(e) {
                Value::Int(v) if ty.dtype.is_numeric() => Some(Init::Fill(v as f64)),
                Value::Float(v) if ty.dtype.is_float() => Some(Init::Fill(v)),
                Value::Bool(v) if ty.dtype == DType::Bool => Some(Init::Fill(f64::from(u8::from(v)))),
                v @ (Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {
                    let shown = literal_text(&v);
                    self.report(e.span, format!("cannot fill {} parameter `{}` with {shown}", ty, name.name));
                    None
                }
                Value::Error => None,
                other => {
                    let what = other.describe();
                    self.report(e.span, format!("`=` sets every element to a number, found {what}; use `~` for an initializer such as `normal(0, 0.1, seed = 1)`"));
                    None
                }
            },
            ast::Init::Call(e) => {
                let (callee, args) = match &e.kind {
                    ExprKind::Name(ident) => (ident, &[][..]),
                    ExprKind::Call { callee, args } => (callee, &args[..]),
                    _ => {
                        self.report(
                            e.span,
                            "expected an initializer such as `zeros`, `normal(0, 0.1)`, `glorot` or `orthogonal`",
                        );
                        return None;
                    }
                };
                let call = self.call_args(args);
                builtins::initializer(self, callee, call, ty, &name.name, e.span)
            }
        }
    }

    fn layer(&mut self, name: &Ident, value: &Expr, inverse: Option<&ast::Lambda>) {
        let v = self.expr(value);
        let node = self.tensor(v.clone(), value.span, "a layer");
        self.define(name, Binding::Value(v), "layer");
        let Some(node) = node else { return };
        let inverse = inverse.and_then(|lambda| self.inverse(name, node, lambda));
        self.layers.push(Layer { name: name.name.clone(), node, inverse });
    }

    /// Lowers `inverse(t) = body` into a graph of its own whose one input is `t`.
    fn inverse(&mut self, layer: &Ident, node: NodeId, lambda: &ast::Lambda) -> Option<Inverse> {
        let arg_ty = self.graph.ty(node).clone();
        let previous =
            self.layers.last().map(|l| (format!("the layer before it, `{}`", l.name), self.graph.ty(l.node).clone()));
        let mut sub = Graph::new();
        let arg = match sub.input(&lambda.param.name, arg_ty) {
            Ok(id) => id,
            Err(e) => {
                self.report(lambda.param.span, e.message);
                return None;
            }
        };
        std::mem::swap(&mut self.graph, &mut sub);
        let saved_locals = self.locals.replace(HashMap::from([(lambda.param.name.clone(), Value::Node(arg))]));
        self.inverse_params = Some(HashMap::new());
        let v = self.expr(&lambda.body);
        let result = self.tensor(v, lambda.body.span, "an inverse");
        self.inverse_params = None;
        self.locals = saved_locals;
        std::mem::swap(&mut self.graph, &mut sub);
        let result = result?;
        // The first layer's inverse maps back to the network's input: one of
        // the inputs the layer depends on.
        let previous = previous.or_else(|| {
            let live = self.graph.reachable_from(&[node]);
            let inputs: Vec<(String, Type)> = self
                .graph
                .inputs()
                .iter()
                .filter(|id| live[id.index()])
                .filter_map(|&id| match &self.graph.node(id).op {
                    Op::Input { name, ty } => Some((format!("the input `{name}`"), ty.clone())),
                    _ => None,
                })
                .collect();
            let got = sub.ty(result);
            match inputs.iter().find(|(_, ty)| ty == got) {
                Some(_) => None,
                None => inputs.into_iter().next(),
            }
        });
        if let Some((previous_name, previous_ty)) = previous
            && *sub.ty(result) != previous_ty
        {
            let got = sub.ty(result).clone();
            self.report(
                lambda.body.span,
                format!(
                    "the inverse of layer `{}` must return {previous_ty} (the type of {previous_name}), but it returns {got}",
                    layer.name
                ),
            );
            return None;
        }
        Some(Inverse { graph: sub, arg, result })
    }

    /// A `train` block: its settings are checked whether or not the rule
    /// already has a block, so that every error of a file is reported.
    fn train(&mut self, rule: &Ident, settings: &[ast::Setting]) {
        let rules = tx_learn::spec::RULES;
        if !rules.contains(&rule.name.as_str()) {
            let message = format!("unknown learning rule `{}`; expected one of {}", rule.name, rules.join(", "));
            self.report(rule.span, message);
            return;
        }
        let mut out: Vec<(String, Setting)> = Vec::new();
        for setting in settings {
            if out.iter().any(|(k, _)| *k == setting.key.name) {
                self.report(setting.key.span, format!("setting `{}` is given twice", setting.key.name));
                continue;
            }
            if let Some(value) = self.setting(&setting.value) {
                out.push((setting.key.name.clone(), value));
            }
        }
        let spec = TrainSpec { rule: rule.name.clone(), settings: out };
        // The settings' meanings belong to tx-learn; their errors point here.
        if let Err(errors) = tx_learn::read_spec(&spec) {
            for error in errors {
                let at = error
                    .key
                    .as_ref()
                    .and_then(|key| settings.iter().find(|s| s.key.name == *key))
                    .map_or(rule.span, |s| s.key.span.to(s.value.span));
                self.report(at, error.message);
            }
        }
        if let Some((_, first)) = self.train.iter().find(|(previous, _)| previous.rule == spec.rule) {
            let (line, col) = self.lines.line_col(first.start);
            let message =
                format!("`train {}` is given twice; a program has at most one `train` block per rule", rule.name);
            let note = format!("the first `train {}` block is at line {line}, column {col}", rule.name);
            self.diagnostics.push(Diagnostic::error(rule.span, message).with_note(note));
            return;
        }
        self.train.push((spec, rule.span));
    }

    /// A setting is data, not a graph: numbers (consts allowed), names,
    /// lists and calls with keyword arguments.
    fn setting(&mut self, e: &Expr) -> Option<Setting> {
        match &e.kind {
            ExprKind::Int(v) => Some(Setting::Int(*v)),
            ExprKind::Float(v) => Some(Setting::Float(*v)),
            ExprKind::Bool(v) => Some(Setting::Bool(*v)),
            ExprKind::Name(ident) => match self.globals.get(&ident.name).map(|g| &g.binding) {
                Some(Binding::Value(Value::Int(v))) => Some(Setting::Int(*v)),
                Some(Binding::Value(Value::Float(v))) => Some(Setting::Float(*v)),
                Some(Binding::Value(Value::Bool(v))) => Some(Setting::Bool(*v)),
                _ => Some(Setting::Name(ident.name.clone())),
            },
            ExprKind::Unary { op: ast::UnaryOp::Neg, operand } => match self.setting(operand)? {
                Setting::Int(v) => Some(Setting::Int(v.wrapping_neg())),
                Setting::Float(v) => Some(Setting::Float(-v)),
                _ => {
                    self.report(e.span, "only a number can be negated in a setting");
                    None
                }
            },
            ExprKind::List(items) => {
                let items: Option<Vec<Setting>> = items.iter().map(|i| self.setting(i)).collect();
                Some(Setting::List(items?))
            }
            ExprKind::Call { callee, args } => {
                let mut out = Vec::with_capacity(args.len());
                for arg in args {
                    out.push((arg.name.as_ref().map(|n| n.name.clone()), self.setting(&arg.value)?));
                }
                Some(Setting::Call { name: callee.name.clone(), args: out })
            }
            ExprKind::Error => None,
            _ => {
                self.report(e.span, "a setting must be a number, a name, a list or a call such as `adam(lr = 0.001)`");
                None
            }
        }
    }

    // ----- expressions ---------------------------------------------------

    pub(crate) fn expr(&mut self, e: &Expr) -> Value {
        self.work += 1;
        if self.work > MAX_WORK || self.graph.len() > MAX_NODES {
            if !self.too_large_reported {
                self.too_large_reported = true;
                self.report(e.span, "the program is too large to compile (function inlining grows too much)");
            }
            return Value::Error;
        }
        let first_new = self.graph.len();
        let value = self.expr_kind(e);
        let origin = tx_ir::Origin { start: e.span.start, end: e.span.end };
        for id in first_new..self.graph.len() {
            self.graph.set_origin_if_unset(NodeId(id as u32), origin);
        }
        value
    }

    fn expr_kind(&mut self, e: &Expr) -> Value {
        match &e.kind {
            ExprKind::Int(v) => Value::Int(*v),
            ExprKind::Float(v) => Value::Float(*v),
            ExprKind::Bool(v) => Value::Bool(*v),
            ExprKind::Name(ident) => self.resolve(ident),
            ExprKind::Unary { op, operand } => {
                let v = self.expr(operand);
                self.unary(*op, v, e.span)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.expr(lhs);
                let b = self.expr(rhs);
                match op {
                    ast::BinaryOp::MatMul => self.matmul(a, b, e.span),
                    _ => self.binary(binary_op(*op), a, b, e.span),
                }
            }
            ExprKind::Call { callee, args } => {
                let call = self.call_args(args);
                self.call(callee, call, e.span)
            }
            ExprKind::Index { base, indices } => {
                let v = self.expr(base);
                self.index(v, indices, e.span)
            }
            ExprKind::List(items) => Value::List(items.iter().map(|i| self.expr(i)).collect()),
            ExprKind::Error => Value::Error,
        }
    }

    fn resolve(&mut self, ident: &Ident) -> Value {
        let name = ident.name.as_str();
        // A list is copied where it is used: charge its size as work first,
        // so nested lists cannot grow past the work limit (or memory).
        let listed = self.locals.as_ref().and_then(|l| l.get(name)).or_else(|| match self.globals.get(name) {
            Some(Global { binding: Binding::Value(v), .. }) => Some(v),
            _ => None,
        });
        if let Some(list @ Value::List(_)) = listed {
            self.work = self.work.saturating_add(value_size(list));
            if self.work > MAX_WORK {
                return self.error(ident.span, "the program is too large to compile (its lists grow too much)");
            }
        }
        if let Some(v) = self.locals.as_ref().and_then(|l| l.get(name)) {
            return v.clone();
        }
        if let Some(global) = self.globals.get(name).cloned() {
            return match global.binding {
                Binding::Param(id) => match self.inverse_params.is_some() {
                    false => Value::Node(id),
                    true => self.inverse_param(ident),
                },
                Binding::Input(_) | Binding::Value(Value::Node(_)) | Binding::Value(Value::List(_))
                    if self.inverse_params.is_some() =>
                {
                    self.error(ident.span, format!("an inverse can use only its argument, parameters and constants; `{name}` is {} {} of the forward graph", article(global.kind), global.kind))
                }
                Binding::Input(id) => Value::Node(id),
                Binding::Value(v) => v,
                Binding::Dim => Value::Dim(Dim::sym(name)),
            };
        }
        if let Some(dtype) = DType::from_name(name) {
            return Value::DType(dtype);
        }
        if self.functions.contains_key(name) || builtins::is_builtin(name) {
            return self.error(ident.span, format!("`{name}` is a function; call it as `{name}(...)`"));
        }
        let mut candidates: Vec<&str> = Vec::new();
        if self.suggestions_left.get() > 0 {
            candidates.extend(self.globals.keys().map(String::as_str));
            if let Some(locals) = &self.locals {
                candidates.extend(locals.keys().map(String::as_str));
            }
        }
        let message = match self.suggest(name, candidates) {
            Some(s) => format!("unknown name `{name}`; did you mean `{s}`?"),
            None => format!("unknown name `{name}`"),
        };
        self.error(ident.span, message)
    }

    /// A parameter used inside an inverse: declared in the inverse's graph
    /// on first use, with the model parameter's type and initializer.
    fn inverse_param(&mut self, ident: &Ident) -> Value {
        if let Some(&id) = self.inverse_params.as_ref().and_then(|p| p.get(&ident.name)) {
            return Value::Node(id);
        }
        let Some(decl) = self.param_decls.get(&ident.name).cloned() else {
            return self.error(ident.span, format!("unknown parameter `{}`", ident.name));
        };
        match self.graph.param(&ident.name, decl.ty, decl.init, decl.frozen) {
            Ok(id) => {
                if let Some(params) = self.inverse_params.as_mut() {
                    params.insert(ident.name.clone(), id);
                }
                Value::Node(id)
            }
            Err(e) => self.error(ident.span, e.message),
        }
    }

    pub(crate) fn call_args(&mut self, args: &[ast::Arg]) -> CallArgs {
        let mut call = CallArgs::default();
        for arg in args {
            let value = self.expr(&arg.value);
            match &arg.name {
                None if !call.keyword.is_empty() => {
                    self.report(arg.value.span, "a positional argument cannot follow keyword arguments");
                }
                None => call.positional.push((value, arg.value.span)),
                Some(name) => {
                    if call.keyword.iter().any(|(n, _, _)| n.name == name.name) {
                        self.report(name.span, format!("argument `{}` is given twice", name.name));
                    } else {
                        call.keyword.push((name.clone(), value, arg.value.span));
                    }
                }
            }
        }
        call
    }

    fn call(&mut self, callee: &Ident, call: CallArgs, span: Span) -> Value {
        if let Some(&def) = self.functions.get(&callee.name) {
            return self.inline(def, call, span);
        }
        if builtins::is_builtin(&callee.name) {
            return builtins::call(self, callee, call, span);
        }
        let mut candidates: Vec<String> = Vec::new();
        if self.suggestions_left.get() > 0 {
            candidates.extend(self.functions.keys().cloned());
            candidates.extend(builtins::names().map(String::from));
        }
        let message = match self.suggest(&callee.name, candidates.iter().map(String::as_str)) {
            Some(s) => format!("unknown function `{}`; did you mean `{s}`?", callee.name),
            None => format!("unknown function `{}`", callee.name),
        };
        self.error(callee.span, message)
    }

    /// Calls a user function by lowering its body with the arguments bound:
    /// functions are macros over graphs.
    fn inline(&mut self, def: &'a ast::FnDef, call: CallArgs, span: Span) -> Value {
        let name = &def.name.name;
        if self.call_stack.contains(name) {
            return self.error(span, format!("function `{name}` calls itself; recursion is not supported"));
        }
        if self.call_stack.len() >= MAX_CALL_DEPTH {
            return self.error(span, format!("functions are nested more than {MAX_CALL_DEPTH} calls deep"));
        }
        let params: Vec<(&str, bool)> = def.params.iter().map(|p| (p.name.as_str(), true)).collect();
        let Some(args) = builtins::bind(self, name, &params, call, span) else { return Value::Error };
        let mut scope = HashMap::new();
        for (param, arg) in def.params.iter().zip(args) {
            scope.insert(param.name.clone(), arg.map_or(Value::Error, |(v, _)| v));
        }
        self.called.insert(name.clone());
        let first_diagnostic = self.diagnostics.len();
        let saved = self.locals.replace(scope);
        self.call_stack.push(name.clone());
        for (ident, e) in &def.body.lets {
            let v = self.expr(e);
            let locals = self.locals.as_mut().expect("a function body has a scope");
            if locals.contains_key(&ident.name) {
                let message = format!("`{}` is already defined in function `{name}`", ident.name);
                self.report(ident.span, message);
            } else {
                locals.insert(ident.name.clone(), v);
            }
        }
        let result = self.expr(&def.body.result);
        self.call_stack.pop();
        self.locals = saved;
        // An error inside the body depends on the arguments: say which call.
        let (line, col) = self.lines.line_col(span.start);
        for diagnostic in &mut self.diagnostics[first_diagnostic..] {
            diagnostic.notes.push(format!("in the call of `{name}` at line {line}, column {col}"));
        }
        result
    }

    /// A function that is never called is never lowered; still, a name in
    /// it that nothing could ever resolve is reported.
    fn check_uncalled_functions(&mut self, program: &ast::Program) {
        let mut known: std::collections::HashSet<&str> = self.globals.keys().map(String::as_str).collect();
        for item in &program.items {
            if let ItemKind::Input { ty, .. } | ItemKind::Param { ty, .. } = &item.kind {
                known.extend(
                    ty.dims
                        .iter()
                        .filter_map(|d| if let ast::DimExpr::Name(i) = d { Some(i.name.as_str()) } else { None }),
                );
            }
        }
        let mut defs: Vec<&ast::FnDef> =
            self.functions.values().copied().filter(|d| !self.called.contains(&d.name.name)).collect();
        defs.sort_by_key(|d| d.span.start);
        let mut unknown: Vec<Ident> = Vec::new();
        for def in defs {
            let mut scope: Vec<&str> = def.params.iter().map(|p| p.name.as_str()).collect();
            for (ident, e) in &def.body.lets {
                collect_unknown(e, &scope, &known, &self.functions, &mut unknown);
                scope.push(&ident.name);
            }
            collect_unknown(&def.body.result, &scope, &known, &self.functions, &mut unknown);
        }
        let candidates: Vec<String> = known.iter().map(|s| s.to_string()).collect();
        for ident in unknown {
            let message = match self.suggest(&ident.name, candidates.iter().map(String::as_str)) {
                Some(s) => format!("unknown name `{}`; did you mean `{s}`?", ident.name),
                None => format!("unknown name `{}`", ident.name),
            };
            self.report(ident.span, message);
        }
    }

    // ----- operators -----------------------------------------------------

    /// Adds a node, turning a type error into a diagnostic at `span`.
    pub(crate) fn add(&mut self, op: Op, inputs: &[NodeId], span: Span) -> Value {
        match self.graph.add(op, inputs) {
            Ok(id) => Value::Node(id),
            Err(GraphError { message }) => self.error(span, message),
        }
    }

    /// A gradient error in the words of the program: names for inputs and
    /// parameters, source positions for other values.
    pub(crate) fn describe_grad_error(&self, e: &tx_autodiff::GradError) -> String {
        use tx_autodiff::GradError;
        let name = |id: NodeId| match &self.graph.node(id).op {
            Op::Input { name, .. } | Op::Param { name, .. } => format!("`{name}`"),
            op => match self.graph.origin(id) {
                Some(origin) => {
                    let (line, col) = self.lines.line_col(origin.start);
                    format!("the `{}` at line {line}, column {col}", op.name())
                }
                None => format!("a `{}` value", op.name()),
            },
        };
        match e {
            GradError::BadCost { message, .. } => message.clone(),
            GradError::NotFloat { wrt } => {
                format!("cannot differentiate with respect to {}, which is {}", name(*wrt), self.graph.ty(*wrt))
            }
            GradError::Unused { wrt } => {
                format!("the cost does not depend on {}; pass `allow_unused = true` to get a zero gradient", name(*wrt))
            }
            GradError::NotDifferentiable { node, operand } => {
                // An integer or bool operand is where the path really breaks
                // (a comparison or `argmax` feeding a cast, say).
                let input = self.graph.node(*node).inputs[*operand];
                let culprit = if self.graph.ty(input).dtype.is_float() { *node } else { input };
                format!(
                    "the gradient would have to pass through {}, which has no derivative; use `stop_gradient` if that path should not count",
                    name(culprit)
                )
            }
            GradError::Internal { message, .. } => {
                format!("internal error while differentiating (a bug in tx): {message}")
            }
        }
    }

    /// "Did you mean" for the first few unknown names only: each costs a
    /// pass over every name in scope, and a file of thousands of typos must
    /// not take quadratic time.
    fn suggest<'s>(&self, name: &str, candidates: impl IntoIterator<Item = &'s str>) -> Option<&'s str> {
        let left = self.suggestions_left.get();
        if left == 0 {
            return None;
        }
        self.suggestions_left.set(left - 1);
        suggest(name, candidates)
    }

    /// A node built by a composite of `tx_ir::compose`, or its error at `span`.
    pub(crate) fn graph_result(&mut self, result: Result<NodeId, GraphError>, span: Span) -> Value {
        match result {
            Ok(id) => Value::Node(id),
            Err(GraphError { message }) => self.error(span, message),
        }
    }

    /// The node for a value where a tensor is needed; literals become
    /// constants of their natural type (i64, f32, bool).
    pub(crate) fn tensor(&mut self, v: Value, span: Span, what: &str) -> Option<NodeId> {
        match v {
            Value::Node(id) => Some(id),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                let dtype = natural_dtype(&v);
                self.constant(&v, dtype, span)
            }
            Value::Error => None,
            other => {
                let what_found = other.describe();
                self.report(span, format!("{what} must be a tensor, found {what_found}"));
                None
            }
        }
    }

    /// A literal as a scalar constant of `dtype`.
    pub(crate) fn constant(&mut self, v: &Value, dtype: DType, span: Span) -> Option<NodeId> {
        let scalar = match (v, dtype) {
            (Value::Int(i), d) if d.is_float() => Scalar::Float(*i as f64),
            (Value::Int(i), DType::I64) => Scalar::Int(*i),
            (Value::Float(f), d) if d.is_float() => Scalar::Float(*f),
            (Value::Bool(b), DType::Bool) => Scalar::Bool(*b),
            (Value::Error, _) => return None,
            _ if v.is_literal() => {
                let what = v.describe();
                self.report(span, format!("cannot use {what} ({}) where {dtype} is expected", literal_text(v)));
                return None;
            }
            _ => {
                let what = v.describe();
                self.report(span, format!("expected a number of type {dtype}, found {what}"));
                return None;
            }
        };
        match self.graph.add(Op::Constant { value: scalar, dtype }, &[]) {
            Ok(id) => Some(id),
            Err(e) => {
                self.report(span, e.message);
                None
            }
        }
    }

    fn unary(&mut self, op: ast::UnaryOp, v: Value, span: Span) -> Value {
        match (op, v) {
            (_, Value::Error) => Value::Error,
            (ast::UnaryOp::Neg, Value::Int(i)) => match i.checked_neg() {
                Some(n) => Value::Int(n),
                None => self.error(span, "integer overflow in a constant expression"),
            },
            (ast::UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
            (ast::UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
            (ast::UnaryOp::Neg, Value::Node(id)) => self.add(Op::Unary(UnaryOp::Neg), &[id], span),
            (ast::UnaryOp::Not, Value::Node(id)) => self.add(Op::Unary(UnaryOp::Not), &[id], span),
            (ast::UnaryOp::Neg, other) => {
                let what = other.describe();
                self.error(span, format!("cannot negate {what}"))
            }
            (ast::UnaryOp::Not, other) => {
                let what = other.describe();
                self.error(span, format!("`not` needs a bool, found {what}"))
            }
        }
    }

    /// An elementwise binary op: folds literals, gives a literal the element
    /// type of the tensor it meets, and lets the IR check the rest.
    pub(crate) fn binary(&mut self, op: BinaryOp, a: Value, b: Value, span: Span) -> Value {
        match (&a, &b) {
            (Value::Error, _) | (_, Value::Error) => Value::Error,
            (x, y) if x.is_literal() && y.is_literal() => match fold(op, x, y) {
                Ok(v) => v,
                Err(message) => self.error(span, message),
            },
            (Value::Node(x), Value::Node(y)) => self.add(Op::Binary(op), &[*x, *y], span),
            (Value::Node(x), lit) if lit.is_literal() => {
                let dtype = self.graph.ty(*x).dtype;
                match self.constant(lit, dtype, span) {
                    Some(c) => self.add(Op::Binary(op), &[*x, c], span),
                    None => Value::Error,
                }
            }
            (lit, Value::Node(y)) if lit.is_literal() => {
                let dtype = self.graph.ty(*y).dtype;
                match self.constant(lit, dtype, span) {
                    Some(c) => self.add(Op::Binary(op), &[c, *y], span),
                    None => Value::Error,
                }
            }
            (x, y) => {
                let (x, y) = (x.describe(), y.describe());
                self.error(span, format!("cannot {} {x} and {y}", op.verb()))
            }
        }
    }

    pub(crate) fn matmul(&mut self, a: Value, b: Value, span: Span) -> Value {
        match (a, b) {
            (Value::Error, _) | (_, Value::Error) => Value::Error,
            (Value::Node(x), Value::Node(y)) => self.add(Op::MatMul, &[x, y], span),
            (x, y) => {
                let (x, y) = (x.describe(), y.describe());
                self.error(span, format!("`@` multiplies two tensors, found {x} and {y}"))
            }
        }
    }

    /// `x[i, a:b:c, :]`: a slice, then a reshape that drops the axes given a
    /// single index.
    fn index(&mut self, v: Value, indices: &[IndexItem], span: Span) -> Value {
        let base = match v {
            Value::Node(id) => id,
            Value::Error => return Value::Error,
            other => {
                let what = other.describe();
                return self.error(span, format!("only a tensor can be indexed, found {what}"));
            }
        };
        let ty = self.graph.ty(base).clone();
        if indices.len() > ty.rank() {
            return self
                .error(span, format!("too many indices ({}) for {ty}, which has rank {}", indices.len(), ty.rank()));
        }
        let mut axes = vec![AxisSlice::Full; ty.rank()];
        let mut dropped = Vec::new();
        for (axis, item) in indices.iter().enumerate() {
            let dim = ty.shape.0[axis].clone();
            let (start, stop, step, item_span, at) = match item {
                IndexItem::At(e) => (Some(e), None, None, e.span, true),
                IndexItem::Slice { start, stop, step, span } => {
                    (start.as_ref(), stop.as_ref(), step.as_ref(), *span, false)
                }
            };
            let mut part = |e: Option<&Expr>| -> Result<Option<i64>, ()> {
                let Some(e) = e else { return Ok(None) };
                match self.expr(e) {
                    Value::Int(i) => Ok(Some(i)),
                    Value::Error => Err(()),
                    Value::Node(_) => {
                        self.report(
                            e.span,
                            "indexing with a tensor is not supported; use `one_hot` or `where` to select by value",
                        );
                        Err(())
                    }
                    other => {
                        let what = other.describe();
                        self.report(e.span, format!("an index must be an integer known at compile time, found {what}"));
                        Err(())
                    }
                }
            };
            let (Ok(start), Ok(stop), Ok(step)) = (part(start), part(stop), part(step)) else { return Value::Error };
            let n = match dim {
                Dim::Known(n) => n,
                Dim::Sym(ref s) => match symbolic_slice(at, start, stop, step) {
                    Ok(Some(slice)) => {
                        if at {
                            dropped.push(axis);
                        }
                        axes[axis] = slice;
                        continue;
                    }
                    Ok(None) => continue,
                    Err(why) => {
                        return self.error(item_span, format!("axis {axis} of {ty} has symbolic size `{s}`: {why}"));
                    }
                },
            };
            if at {
                let i = start.expect("an index has a value");
                let position = if i < 0 { i + n as i64 } else { i };
                if position < 0 || position >= n as i64 {
                    return self.error(item_span, format!("index {i} is out of bounds for axis {axis} of {ty}"));
                }
                axes[axis] = AxisSlice::Range { start: position as usize, step: 1, len: 1 };
                dropped.push(axis);
            } else {
                let step = step.unwrap_or(1);
                if step == 0 {
                    return self.error(item_span, "a slice step cannot be zero");
                }
                axes[axis] = python_slice(n, start, stop, step);
            }
        }
        let mut node = base;
        if axes.iter().any(|a| *a != AxisSlice::Full) {
            match self.add(Op::Slice { axes }, &[node], span) {
                Value::Node(id) => node = id,
                other => return other,
            }
        }
        if !dropped.is_empty() {
            let dims = self.graph.ty(node).shape.0.iter().enumerate().filter(|(i, _)| !dropped.contains(i));
            let shape = Shape(dims.map(|(_, d)| d.clone()).collect());
            return self.add(Op::Reshape { shape }, &[node], span);
        }
        Value::Node(node)
    }
}

/// An index or slice of an axis whose size is known only at the call: a
/// non-negative index, or a forward slice with explicit bounds (checked
/// against the size when the graph runs). `Ok(None)` is the whole axis.
fn symbolic_slice(
    at: bool,
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
) -> Result<Option<AxisSlice>, &'static str> {
    let step = step.unwrap_or(1);
    if at {
        return match start {
            Some(i) if i >= 0 => Ok(Some(AxisSlice::Range { start: i as usize, step: 1, len: 1 })),
            _ => Err("a negative index would count from an end that is not known yet"),
        };
    }
    match (start, stop) {
        (None | Some(0), None) if step == 1 => Ok(None),
        (_, None) => Err("a slice of it needs an explicit stop"),
        (start, Some(stop)) => {
            let start = start.unwrap_or(0);
            if start < 0 || stop < 0 || step <= 0 {
                return Err("a slice of it needs non-negative bounds and a positive step");
            }
            let (start128, stop128, step128) = (i128::from(start), i128::from(stop), i128::from(step));
            let len = if stop128 > start128 { (stop128 - start128 + step128 - 1) / step128 } else { 0 };
            Ok(Some(AxisSlice::Range { start: if len == 0 { 0 } else { start as usize }, step, len: len as usize }))
        }
    }
}

/// Names in `e` that are neither in `scope`, nor known globals, functions,
/// builtins or element types; and callees that are not functions.
/// Recursion is bounded by the parser's expression depth limit.
fn collect_unknown(
    e: &Expr,
    scope: &[&str],
    known: &std::collections::HashSet<&str>,
    functions: &HashMap<String, &ast::FnDef>,
    out: &mut Vec<Ident>,
) {
    macro_rules! walk {
        ($e:expr) => {
            collect_unknown($e, scope, known, functions, out)
        };
    }
    match &e.kind {
        ExprKind::Name(ident) => {
            let name = ident.name.as_str();
            let resolves = scope.contains(&name)
                || known.contains(name)
                || functions.contains_key(name)
                || builtins::is_builtin(name)
                || DType::from_name(name).is_some();
            if !resolves {
                out.push(ident.clone());
            }
        }
        ExprKind::Unary { operand, .. } => walk!(operand),
        ExprKind::Binary { lhs, rhs, .. } => {
            walk!(lhs);
            walk!(rhs);
        }
        ExprKind::Call { callee, args } => {
            if !functions.contains_key(&callee.name) && !builtins::is_builtin(&callee.name) {
                out.push(callee.clone());
            }
            for arg in args {
                walk!(&arg.value);
            }
        }
        ExprKind::Index { base, indices } => {
            walk!(base);
            for item in indices {
                match item {
                    IndexItem::At(e) => walk!(e),
                    IndexItem::Slice { start, stop, step, .. } => {
                        for part in [start, stop, step].into_iter().flatten() {
                            walk!(part);
                        }
                    }
                }
            }
        }
        ExprKind::List(items) => {
            for item in items {
                walk!(item);
            }
        }
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Error => {}
    }
}

/// How many values a (nested) list holds, counted without recursion.
fn value_size(value: &Value) -> u64 {
    let mut stack = vec![value];
    let mut size = 0u64;
    while let Some(v) = stack.pop() {
        size += 1;
        if let Value::List(items) = v {
            stack.extend(items.iter());
        }
    }
    size
}

/// Python's `slice(start, stop, step).indices(n)`, as an exact [`AxisSlice`].
pub(crate) fn python_slice(n: usize, start: Option<i64>, stop: Option<i64>, step: i64) -> AxisSlice {
    // i128: no bound, step or size a program can write overflows here.
    let (n, step) = (n as i128, i128::from(step));
    let (lower, upper) = if step > 0 { (0, n) } else { (-1, n - 1) };
    let clamp = |i: i64| {
        let i = i128::from(i);
        if i < 0 { (i + n).max(lower) } else { i.min(upper) }
    };
    let start = start.map_or(if step > 0 { lower } else { upper }, clamp);
    let stop = stop.map_or(if step > 0 { upper } else { lower }, clamp);
    let len = if step > 0 {
        if stop > start { (stop - start + step - 1) / step } else { 0 }
    } else if start > stop {
        (start - stop - step - 1) / -step
    } else {
        0
    };
    if len == 0 {
        AxisSlice::Range { start: 0, step: 1, len: 0 }
    } else if start == 0 && step == 1 && len == n {
        AxisSlice::Full
    } else {
        // With len >= 1 the start is a valid index and the step fits in i64.
        AxisSlice::Range { start: start as usize, step: step as i64, len: len as usize }
    }
}

fn binary_op(op: ast::BinaryOp) -> BinaryOp {
    match op {
        ast::BinaryOp::Add => BinaryOp::Add,
        ast::BinaryOp::Sub => BinaryOp::Sub,
        ast::BinaryOp::Mul => BinaryOp::Mul,
        ast::BinaryOp::Div => BinaryOp::Div,
        ast::BinaryOp::Pow => BinaryOp::Pow,
        ast::BinaryOp::Eq => BinaryOp::Eq,
        ast::BinaryOp::Ne => BinaryOp::Ne,
        ast::BinaryOp::Lt => BinaryOp::Lt,
        ast::BinaryOp::Le => BinaryOp::Le,
        ast::BinaryOp::Gt => BinaryOp::Gt,
        ast::BinaryOp::Ge => BinaryOp::Ge,
        ast::BinaryOp::And => BinaryOp::And,
        ast::BinaryOp::Or => BinaryOp::Or,
        // `@` is not elementwise; callers route it to `matmul` first.
        ast::BinaryOp::MatMul => unreachable!("matmul is lowered separately"),
    }
}

/// The type a literal takes when nothing else decides it.
pub(crate) fn natural_dtype(v: &Value) -> DType {
    match v {
        Value::Int(_) => DType::I64,
        Value::Bool(_) => DType::Bool,
        _ => DType::F32,
    }
}

pub(crate) fn literal_text(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Bool(b) => b.to_string(),
        other => other.describe().to_string(),
    }
}

/// Folds an operator over two literals, the way Python would (`/` is true
/// division), with errors instead of overflow or infinities.
fn fold(op: BinaryOp, a: &Value, b: &Value) -> Result<Value, String> {
    use Value::{Bool, Float, Int};
    let overflow = || "integer overflow in a constant expression".to_string();
    let float =
        |v: f64| if v.is_finite() { Ok(Float(v)) } else { Err("a constant expression is not finite".to_string()) };
    let as_f64 = |v: &Value| match v {
        Int(i) => Some(*i as f64),
        Float(f) => Some(*f),
        _ => None,
    };
    match (op, a, b) {
        (BinaryOp::And, Bool(x), Bool(y)) => Ok(Bool(*x && *y)),
        (BinaryOp::Or, Bool(x), Bool(y)) => Ok(Bool(*x || *y)),
        (BinaryOp::Eq, Bool(x), Bool(y)) => Ok(Bool(x == y)),
        (BinaryOp::Ne, Bool(x), Bool(y)) => Ok(Bool(x != y)),
        (_, Bool(_), _) | (_, _, Bool(_)) => Err(format!("cannot {} a bool with `{}`", op.verb(), op.name())),
        (BinaryOp::And | BinaryOp::Or, _, _) => Err(format!("`{}` needs bools", op.name())),
        (BinaryOp::Add, Int(x), Int(y)) => x.checked_add(*y).map(Int).ok_or_else(overflow),
        (BinaryOp::Sub, Int(x), Int(y)) => x.checked_sub(*y).map(Int).ok_or_else(overflow),
        (BinaryOp::Mul, Int(x), Int(y)) => x.checked_mul(*y).map(Int).ok_or_else(overflow),
        (BinaryOp::Pow, Int(x), Int(y)) if *y >= 0 => {
            u32::try_from(*y).ok().and_then(|y| x.checked_pow(y)).map(Int).ok_or_else(overflow)
        }
        (BinaryOp::Max, Int(x), Int(y)) => Ok(Int(*x.max(y))),
        (BinaryOp::Min, Int(x), Int(y)) => Ok(Int(*x.min(y))),
        _ => {
            let (x, y) = (as_f64(a).unwrap_or(f64::NAN), as_f64(b).unwrap_or(f64::NAN));
            match op {
                BinaryOp::Add => float(x + y),
                BinaryOp::Sub => float(x - y),
                BinaryOp::Mul => float(x * y),
                BinaryOp::Div if y == 0.0 => Err("division by zero in a constant expression".to_string()),
                BinaryOp::Div => float(x / y),
                BinaryOp::Pow => float(x.powf(y)),
                BinaryOp::Max => float(x.max(y)),
                BinaryOp::Min => float(x.min(y)),
                BinaryOp::Eq => Ok(Bool(x == y)),
                BinaryOp::Ne => Ok(Bool(x != y)),
                BinaryOp::Lt => Ok(Bool(x < y)),
                BinaryOp::Le => Ok(Bool(x <= y)),
                BinaryOp::Gt => Ok(Bool(x > y)),
                BinaryOp::Ge => Ok(Bool(x >= y)),
                BinaryOp::And | BinaryOp::Or => Err(format!("`{}` needs bools", op.name())),
            }
        }
    }
}

fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

/// The closest candidate within a small edit distance, for "did you mean".
pub(crate) fn suggest<'s>(name: &str, candidates: impl IntoIterator<Item = &'s str>) -> Option<&'s str> {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let d = edit_distance(name, candidate);
        if d <= limit && best.is_none_or(|(bd, bc)| (d, candidate) < (bd, bc)) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_follow_python() {
        let r = |start, step, len| AxisSlice::Range { start, step, len };
        assert_eq!(python_slice(5, None, None, 1), AxisSlice::Full);
        assert_eq!(python_slice(5, Some(1), Some(3), 1), r(1, 1, 2));
        assert_eq!(python_slice(5, None, None, -1), r(4, -1, 5));
        assert_eq!(python_slice(5, Some(-2), None, 1), r(3, 1, 2));
        assert_eq!(python_slice(5, None, None, 2), r(0, 2, 3));
        assert_eq!(python_slice(5, Some(10), Some(20), 1), r(0, 1, 0));
        assert_eq!(python_slice(5, Some(3), Some(0), -2), r(3, -2, 2));
        assert_eq!(python_slice(0, None, None, 1), r(0, 1, 0));
    }

    #[test]
    fn suggestions_are_close() {
        assert_eq!(suggest("W11", ["W1", "b1", "x"]), Some("W1"));
        assert_eq!(suggest("tanhh", ["tanh", "exp"]), Some("tanh"));
        assert_eq!(suggest("zzz", ["tanh", "exp"]), None);
    }
}
