"""The FEEL grammar (lark, LALR) and the lark parser built from it, once per process.

Names with spaces: a name is one or more words (``name: NAME+``), so ``Customer Status`` parses as one name.
Names that contain keywords or punctuation (``date and time``, ``Approved/Declined``) are merged into a single
NAME token before parsing when they are known (see ``lexing.py``).
"""

from __future__ import annotations

from lark import Lark

GRAMMAR = r"""
start_expr: expression
start_tests: unary_tests

// ---------------------------------------------------------------- unary tests (DMN input entries)
unary_tests: MINUS                                  -> any_test
           | NEG "(" positive_unary_tests ")"       -> negated_tests
           | positive_unary_tests
positive_unary_tests: positive_unary_test ("," positive_unary_test)*
?positive_unary_test: simple_put | expression
simple_put: (LT | LE | GT | GE | EQ | NE) additive

// ---------------------------------------------------------------- expressions
?expression: for_expr | if_expr | quantified | function_def | disjunction

for_expr: "for" iteration ("," iteration)* "return" expression
iteration: name "in" expression [DOTDOT expression]
if_expr: "if" expression "then" expression "else" expression
quantified: (SOME | EVERY) q_iteration ("," q_iteration)* "satisfies" expression
q_iteration: name "in" expression
function_def: "function" "(" [param ("," param)*] ")" [EXTERNAL] expression
param: name [":" type]

?disjunction: conjunction ("or" conjunction)*
?conjunction: comparison ("and" comparison)*
?comparison: additive
           | comparison (EQ | NE | LT | LE | GT | GE) additive     -> compare
           | comparison "between" additive "and" additive            -> between
           | comparison "in" in_rhs                                  -> in_test
           | comparison "instance" OF type                           -> instance_of
in_rhs: simple_put | additive
      | "(" positive_unary_test ("," positive_unary_test)+ ")" -> in_list

?additive: multiplicative ((PLUS | MINUS) multiplicative)*
?multiplicative: power ((STAR | SLASH) power)*
?power: unary (POW unary)*
?unary: MINUS unary                                  -> negation
      | postfix
?postfix: primary
        | postfix "." name                            -> path
        | postfix LSQB expression "]"                 -> filter
        | postfix "(" [arguments] ")"                 -> call
arguments: expression ("," expression)*               -> positional_args
         | named_arg ("," named_arg)*                 -> named_args
named_arg: name ":" expression

?primary: literal
        | name                                        -> var
        | QMARK                                       -> input_value
        | "(" expression ")"
        | "[" [expression ("," expression)*] "]"      -> list_literal
        | "{" [entry ("," entry)*] "}"                -> context_literal
        | interval
        | "(" simple_put ")"                          -> unary_range
entry: (name | STRING) ":" expression
!interval: ("(" | IOPEN | "[") additive DOTDOT additive (")" | "]" | ICLOSE)

literal: NUMBER                                       -> number
       | STRING                                       -> string
       | "true"                                       -> true
       | "false"                                      -> false
       | "null"                                       -> null
       | "@" STRING                                   -> temporal

type: name ["<" type ("," type)* ">"]
    | name "<" context_field ("," context_field)* ">" -> context_type
    | "function" ["<" [type ("," type)*] ">" ARROW type] -> function_type
context_field: name ":" type
name: NAME+

// ---------------------------------------------------------------- terminals
DOTDOT.2: ".."
ARROW.2: "->"
POW: "**"
STAR: "*"
SLASH: "/"
PLUS: "+"
MINUS: "-"
EQ: "="
NE: "!="
LE: "<="
GE: ">="
LT: "<"
GT: ">"
LSQB: "["
QMARK: "?"
SOME: "some"
EVERY: "every"
EXTERNAL: "external"
NUMBER: /(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+)?/
STRING: /"(?:[^"\\]|\\.)*"/s
NAME: /(?:[^\W\d]|[\U00010000-\U000EFFFF])(?:[\w']|[\U00010000-\U000EFFFF])*/
COMMENT: /\/\/[^\n]*|\/\*(?:.|\n)*?\*\//
%declare NEG OF ICLOSE IOPEN
%ignore /\s+/
%ignore COMMENT
"""


def build_parser(**options) -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="basic", start=["start_expr", "start_tests"], **options)
