//! Provider-defined functions. Errors are [`FunctionError`]s (Terraform
//! shows them as function call errors, naming the argument).

use labforge_cty::{Type, Value};

use super::ProviderServer;
use crate::provider::Provider;
use crate::resource::FunctionError;

/// The types of a call's arguments (variadic ones expanded) and of its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    /// One type per argument of the call, in order.
    pub parameters: Vec<Type>,
    /// The result's type.
    pub returns: Type,
}

fn not_found(name: &str) -> FunctionError {
    FunctionError {
        text: format!("This provider has no function {name:?}."),
        argument: None,
    }
}

impl<P: Provider> ProviderServer<P> {
    /// The types for a call of function `name` with `arguments` arguments:
    /// an error when there is no such function or too many arguments.
    pub fn function_signature(
        &self,
        name: &str,
        arguments: usize,
    ) -> Result<Signature, FunctionError> {
        let f = self
            .registry
            .functions
            .get(name)
            .ok_or_else(|| not_found(name))?;
        let def = f.definition();
        let parameters = (0..arguments)
            .map(|i| {
                def.parameters
                    .get(i)
                    .or(def.variadic.as_ref())
                    .map(|p| p.ty.clone())
                    .ok_or_else(|| FunctionError {
                        text: format!("Too many arguments for {name}."),
                        argument: None,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Signature {
            parameters,
            returns: def.returns,
        })
    }

    /// CallFunction: call `name` with its arguments, decoded with
    /// [`ProviderServer::function_signature`]'s types.
    pub fn call_function(&self, name: &str, args: Vec<Value>) -> Result<Value, FunctionError> {
        let f = self
            .registry
            .functions
            .get(name)
            .ok_or_else(|| not_found(name))?;
        f.call(args)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Test;
    use super::*;

    #[test]
    fn signatures_expand_variadic_arguments() {
        let s = ProviderServer::new(Test);
        let sig = s.function_signature("reverse", 3).unwrap();
        assert_eq!(sig.parameters, [Type::String, Type::Number, Type::Number]);
        assert_eq!(sig.returns, Type::String);
        assert!(
            s.function_signature("nothing", 0)
                .unwrap_err()
                .text
                .contains("no function")
        );
    }

    #[test]
    fn calls_and_errors_name_the_argument() {
        let s = ProviderServer::new(Test);
        assert_eq!(
            s.call_function("reverse", vec![Value::string("abc")]).ok(),
            Some(Value::string("cba"))
        );
        let e = s
            .call_function("reverse", vec![Value::string("")])
            .unwrap_err();
        assert_eq!(e.argument, Some(0));
        assert!(e.text.contains("empty"));
        assert!(s.call_function("nothing", Vec::new()).is_err());
    }
}
