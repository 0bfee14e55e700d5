//! Strings read in place from an Arrow array handed over through the Arrow PyCapsule interface
//! (`__arrow_c_array__`: an `ArrowSchema` and an `ArrowArray` of the C data interface,
//! <https://arrow.apache.org/docs/format/CDataInterface.html>): utf8 (`u`), large utf8 (`U`)
//! and string view (`vu`) arrays become `&str`s pointing into the producer's buffers, with no
//! copy per row. A null, text that is not UTF-8 or an array of another type is an error naming
//! the row or the type.
//!
//! The capsules own the structs (their destructors release them); this file only borrows, so
//! the strings live as long as the capsules. It knows nothing of embedding.

use std::ffi::{CStr, c_char, c_void};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// `struct ArrowSchema` of the C data interface.
#[repr(C)]
struct ArrowSchema {
    format: *const c_char,
    name: *const c_char,
    metadata: *const c_char,
    flags: i64,
    n_children: i64,
    children: *mut *mut ArrowSchema,
    dictionary: *mut ArrowSchema,
    release: Option<unsafe extern "C" fn(*mut ArrowSchema)>,
    private_data: *mut c_void,
}

/// `struct ArrowArray` of the C data interface.
#[repr(C)]
struct ArrowArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *mut *const c_void,
    children: *mut *mut ArrowArray,
    dictionary: *mut ArrowArray,
    release: Option<unsafe extern "C" fn(*mut ArrowArray)>,
    private_data: *mut c_void,
}

/// Appends the strings of the array in `array` (described by `schema`) to `texts`.
pub fn append_strings<'a>(
    schema: &'a Bound<'_, PyCapsule>,
    array: &'a Bound<'_, PyCapsule>,
    texts: &mut Vec<&'a str>,
) -> PyResult<()> {
    let schema = schema.pointer_checked(Some(c"arrow_schema"))?.cast::<ArrowSchema>();
    let array = array.pointer_checked(Some(c"arrow_array"))?.cast::<ArrowArray>();
    // SAFETY: the capsules are named as the PyCapsule interface names them, so they hold these
    // structs; they stay alive (unreleased) for 'a, and so does the memory they describe.
    let (schema, array) = unsafe { (schema.as_ref(), array.as_ref()) };
    if schema.release.is_none() || array.release.is_none() {
        return Err(PyValueError::new_err("expected a live Arrow array, found one already released"));
    }
    // SAFETY: a live schema's format is a NUL-terminated string.
    let format = unsafe { CStr::from_ptr(schema.format) }.to_string_lossy();
    let (length, offset) = (non_negative(array.length)?, non_negative(array.offset)?);
    let buffers = |count: usize| -> PyResult<&'a [*const c_void]> {
        if usize::try_from(array.n_buffers).is_ok_and(|n| n >= count) && !array.buffers.is_null() {
            // SAFETY: the array has n_buffers buffer pointers.
            Ok(unsafe { std::slice::from_raw_parts(array.buffers, count) })
        } else {
            Err(PyValueError::new_err(format!(
                "expected an Arrow `{format}` array with {count} buffers, found {}",
                array.n_buffers
            )))
        }
    };
    texts.reserve(length);
    match format.as_ref() {
        "u" => {
            let buffers = buffers(3)?;
            check_no_nulls(array, buffers[0], length, offset)?;
            let offsets = buffers[1].cast::<i32>();
            let data = buffers[2].cast::<u8>();
            for row in 0..length {
                // SAFETY: a utf8 array has length + offset + 1 offsets into its data buffer.
                let (start, end) = unsafe { (*offsets.add(offset + row), *offsets.add(offset + row + 1)) };
                texts.push(text(data, i64::from(start), i64::from(end), row)?);
            }
        }
        "U" => {
            let buffers = buffers(3)?;
            check_no_nulls(array, buffers[0], length, offset)?;
            let offsets = buffers[1].cast::<i64>();
            let data = buffers[2].cast::<u8>();
            for row in 0..length {
                // SAFETY: as above, with 64-bit offsets.
                let (start, end) = unsafe { (*offsets.add(offset + row), *offsets.add(offset + row + 1)) };
                texts.push(text(data, start, end, row)?);
            }
        }
        "vu" => {
            // Validity, views, the data buffers, then the data buffers' lengths.
            let buffers = buffers(2)?;
            check_no_nulls(array, buffers[0], length, offset)?;
            let data_buffers = usize::try_from(array.n_buffers).unwrap_or(0).saturating_sub(3);
            // SAFETY: n_buffers were checked to be at least 2; the data buffers follow the views.
            let all = unsafe { std::slice::from_raw_parts(array.buffers, data_buffers + 2) };
            let views = buffers[1].cast::<[u8; 16]>();
            for row in 0..length {
                // SAFETY: a string view array has length + offset views of 16 bytes.
                let view = unsafe { &*views.add(offset + row) };
                let len = i32::from_le_bytes([view[0], view[1], view[2], view[3]]);
                let len = non_negative(i64::from(len))?;
                if len <= 12 {
                    texts.push(utf8(&view[4..4 + len], row)?);
                } else {
                    let index = i32::from_le_bytes([view[8], view[9], view[10], view[11]]);
                    let start = i32::from_le_bytes([view[12], view[13], view[14], view[15]]);
                    let Some(&data) = usize::try_from(index).ok().and_then(|i| all.get(2 + i)) else {
                        return Err(PyValueError::new_err(format!(
                            "row {row}: expected a data buffer index below {data_buffers}, found {index}"
                        )));
                    };
                    let start = i64::from(start);
                    texts.push(text(data.cast::<u8>(), start, start + len as i64, row)?);
                }
            }
        }
        other => {
            return Err(PyTypeError::new_err(format!(
                "expected an Arrow array of strings (utf8, large_utf8 or string_view), found Arrow format `{other}`"
            )));
        }
    }
    Ok(())
}

fn non_negative(value: i64) -> PyResult<usize> {
    usize::try_from(value)
        .map_err(|_| PyValueError::new_err(format!("expected a length or offset >= 0, found {value}")))
}

/// An error naming the first null row, if the array has any.
fn check_no_nulls(array: &ArrowArray, validity: *const c_void, length: usize, offset: usize) -> PyResult<()> {
    if array.null_count == 0 || validity.is_null() {
        return Ok(());
    }
    let bits = validity.cast::<u8>();
    for row in 0..length {
        let bit = offset + row;
        // SAFETY: the validity bitmap has a bit for each of the array's length + offset slots.
        if unsafe { *bits.add(bit / 8) } & (1 << (bit % 8)) == 0 {
            return Err(PyValueError::new_err(format!("expected a string at row {row}, found null")));
        }
    }
    Ok(())
}

/// The string of bytes `start..end` of `data`, row `row`.
fn text<'a>(data: *const u8, start: i64, end: i64, row: usize) -> PyResult<&'a str> {
    if start < 0 || end < start {
        return Err(PyValueError::new_err(format!(
            "row {row}: expected offsets 0 <= start <= end, found {start}..{end}"
        )));
    }
    if start == end {
        return Ok("");
    }
    // SAFETY: the producer's offsets lie within its data buffer (checked to be ordered above).
    let bytes = unsafe { std::slice::from_raw_parts(data.add(start as usize), (end - start) as usize) };
    utf8(bytes, row)
}

fn utf8(bytes: &[u8], row: usize) -> PyResult<&str> {
    std::str::from_utf8(bytes)
        .map_err(|e| PyValueError::new_err(format!("row {row}: expected UTF-8 text, found invalid bytes ({e})")))
}
