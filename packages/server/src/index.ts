/**
 * @since 0.3.0
 */
export {}
