//! The IoC text syntax: parsing never panics, and the printed form of anything that parses
//! reads back as the same IoC (and survives the wire encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use roost::ioc::Ioc;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ioc) = text.parse::<Ioc>() {
        let printed = ioc.to_string();
        let back: Ioc = printed.parse().expect("printed IoC parses");
        assert_eq!(back, ioc, "{text:?} printed as {printed:?}");
        let bytes = postcard::to_stdvec(&ioc).expect("encode");
        let decoded: Ioc = postcard::from_bytes(&bytes).expect("decode");
        assert_eq!(decoded, ioc);
    }
});
